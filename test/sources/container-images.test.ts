import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { parseGoFlags } from "../../sources/container/go-flags.js";
import { parseGoDuration } from "../../src/resources/duration.js";
import { heartbeatsSettings } from "../../sources/container/heartbeats.js";
import { nativeImageOf, repositoryOf } from "../../sources/container/images.js";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/**
 * Knative's heartbeats sample image, run natively by a ContainerSource: no process, so no
 * --allow-process-sources; its flags and events as the image's own program; other image-only
 * containers stay ImageNotRunnable and containers with a command stay gated.
 */
interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface Status {
  status: { conditions?: Condition[]; ceAttributes?: { type: string; source: string }[] };
}
const corpus = resolve(dirname(fileURLToPath(import.meta.url)), "../../../shared/knative-manifests");
const path = (name: string, namespace = "default") =>
  `/apis/sources.knative.dev/v1/namespaces/${namespace}/containersources/${name}`;
const HEARTBEATS = "knative.dev/eventing/cmd/heartbeats";

describe("native images: names", () => {
  it("recognises heartbeats under any registry, with ko://, a tag or a digest", () => {
    for (const image of [
      `ko://${HEARTBEATS}`,
      HEARTBEATS,
      `gcr.io/knative-nightly/${HEARTBEATS}:latest`,
      `gcr.io/knative-nightly/${HEARTBEATS}`,
      `gcr.io/knative-releases/${HEARTBEATS}@sha256:${"a1".repeat(32)}`,
      `gcr.io/knative-releases/${HEARTBEATS}:v1.15.0@sha256:${"b2".repeat(32)}`,
      `localhost:5000/${HEARTBEATS}:dev`,
      "gcr.io/knative-releases/knative.dev/eventing-contrib/cmd/heartbeats:v0.18.0",
    ])
      assert.equal(nativeImageOf(image)?.paths[0], HEARTBEATS, image);
  });

  it("does not take other images for it", () => {
    for (const image of [
      "docker.io/example/heartbeats:v1",
      `${HEARTBEATS}-extra`,
      "myknative.dev/eventing/cmd/heartbeats",
      "ko://knative.dev/eventing/cmd/mqttsource",
      "docker.io/myregistry/node-heartbeat-source:v1",
    ])
      assert.equal(nativeImageOf(image), undefined, image);
  });

  it("strips a tag but not a registry's port", () => {
    assert.equal(repositoryOf("localhost:5000/a/b"), "localhost:5000/a/b");
    assert.equal(repositoryOf("localhost:5000/a/b:v2"), "localhost:5000/a/b");
    assert.equal(repositoryOf("ko://a/b@sha256:00"), "a/b");
  });
});

describe("native images: Go flags and durations", () => {
  const known = ["period", "label"];

  it("reads -name=value, --name=value, -name value and --name value; the last one wins", () => {
    const { values, problem } = parseGoFlags(["-period=1", "--label", "a b", "--period", "2s"], known);
    assert.equal(problem, undefined);
    assert.deepEqual(Object.fromEntries(values), { period: "2s", label: "a b" });
  });

  it("stops at the first argument that is not a flag, and after --", () => {
    assert.deepEqual(Object.fromEntries(parseGoFlags(["--period=1", "rest", "--nope"], known).values), {
      period: "1",
    });
    assert.equal(parseGoFlags(["--", "--nope"], known).problem, undefined);
    assert.equal(parseGoFlags(["-", "--nope"], known).problem, undefined);
  });

  it("names the arg it refuses: unknown flag, missing value, bad syntax", () => {
    assert.deepEqual(parseGoFlags(["--period=1", "--frequency=2"], known).problem, {
      index: 1,
      message: "--frequency=2 is not a flag of this image (it takes --period, --label)",
    });
    assert.deepEqual(parseGoFlags(["--label"], known).problem, {
      index: 0,
      message: "--label needs a value",
    });
    assert.equal(
      parseGoFlags(["---period=1"], known).problem?.message,
      "---period=1 is not a flag (bad flag syntax)",
    );
    assert.equal(parseGoFlags(["-=1"], known).problem?.index, 0);
    assert.equal(parseGoFlags(["-Period=1"], known).problem?.index, 0, "flags are case-sensitive");
  });

  it("parses Go durations in milliseconds", () => {
    const cases: [string, number | undefined][] = [
      ["1s", 1_000],
      ["500ms", 500],
      ["1m30s", 90_000],
      ["1.5h", 5_400_000],
      [".5s", 500],
      ["2us", 0.002],
      ["1µs", 0.001],
      ["0", 0],
      ["-1s", -1_000],
      ["+3s", 3_000],
      ["1", undefined],
      ["1.5", undefined],
      ["s", undefined],
      ["1d", undefined],
      ["abc", undefined],
      ["", undefined],
    ];
    for (const [text, expected] of cases) assert.equal(parseGoDuration(text), expected, text);
  });

  it("reads heartbeats' --period as the image does: a Go duration, else whole seconds, default 5 s", () => {
    const periodOf = (args: string[]) => {
      const parsed = heartbeatsSettings(args);
      return "settings" in parsed ? parsed.settings.periodMs : parsed.problem;
    };
    assert.equal(periodOf([]), 5_000);
    assert.equal(periodOf(["--period="]), 5_000);
    assert.equal(periodOf(["--period=1"]), 1_000);
    assert.equal(periodOf(["-period", "10"]), 10_000);
    assert.equal(periodOf(["--period=250ms"]), 250);
    assert.deepEqual(periodOf(["--label=x", "--period=soon"]), {
      index: 1,
      message: '--period "soon" is not a duration (a Go duration such as 1s or 500ms, or whole seconds)',
    });
    assert.deepEqual(periodOf(["--period", "0"]), {
      index: 0,
      message: '--period "0" must be more than zero',
    });
    assert.equal((periodOf(["--period=-2"]) as { index: number }).index, 0);
  });

  it("unquotes a quoted --label and defaults the event type", () => {
    const parsed = heartbeatsSettings(['--label="hello \\"there\\""', "--msg=hi"]);
    assert.ok("settings" in parsed);
    assert.equal(parsed.settings.label, 'hello "there"');
    assert.equal(parsed.settings.msg, "hi");
    assert.equal(parsed.settings.eventType, "dev.knative.eventing.samples.heartbeat");
    const broken = heartbeatsSettings(['--label="open']);
    assert.ok("settings" in broken);
    assert.equal(broken.settings.label, "", "Go's Unquote gives the empty string on error");
  });
});

describe("ContainerSource running Knative's heartbeats image natively", () => {
  let herald: InProcessHerald;
  let sink: Receiver;
  const readyOf = async (name: string, namespace?: string) => {
    const { body } = await herald.get<Status>(path(name, namespace));
    return { ready: body.status.conditions?.find((c) => c.type === "Ready"), status: body.status };
  };

  before(async () => {
    // Process sources are not allowed: the image runs inside Herald, no command on its host.
    herald = await InProcessHerald.start();
    sink = await startReceiver();
  });
  after(async () => {
    await herald.close();
    await sink.close();
  });

  it("becomes Ready and sends heartbeats to its sink, with the image's type, source, extensions and counter", async () => {
    await herald.apply(`
apiVersion: sources.knative.dev/v1
kind: ContainerSource
metadata: { name: heartbeats, namespace: tracing-sample }
spec:
  template:
    spec:
      containers:
        - image: gcr.io/knative-nightly/knative.dev/eventing/cmd/heartbeats:latest
          name: heartbeats
          args: ["--period=1", "--label=<ok>"]
          env:
            - { name: POD_NAME, value: heartbeats }
            - { name: POD_NAMESPACE, value: tracing-sample }
            - { name: K_CONFIG_TRACING, value: '{"backend":"zipkin"}' }
  ceOverrides: { extensions: { team: platform } }
  sink: { uri: "${sink.url}" }
`);
    const { ready, status } = await eventually(
      async () => {
        const found = await readyOf("heartbeats", "tracing-sample");
        return found.ready?.status === "True" && found;
      },
      { message: "the ContainerSource Ready" },
    );
    assert.equal(ready?.status, "True");
    const source = "https://knative.dev/eventing-contrib/cmd/heartbeats/#tracing-sample/heartbeats";
    assert.deepEqual(status.ceAttributes, [{ type: "dev.knative.eventing.samples.heartbeat", source }]);

    const beats = await eventually(
      () => {
        const received = sink.requests.filter((request) => request.url === "/");
        return received.length >= 3 && received.slice(0, 3);
      },
      { timeoutMs: 15_000, message: "three heartbeats" },
    );
    beats.forEach((request, index) => {
      assert.equal(request.headers["ce-type"], "dev.knative.eventing.samples.heartbeat");
      assert.equal(request.headers["ce-source"], source);
      assert.equal(request.headers["ce-specversion"], "1.0");
      assert.equal(request.headers["ce-the"], "42");
      assert.equal(request.headers["ce-heart"], "yes");
      assert.equal(request.headers["ce-beats"], "true");
      assert.equal(request.headers["ce-team"], "platform");
      assert.ok(request.headers["ce-id"] && request.headers["ce-time"]);
      assert.equal(request.headers["content-type"], "application/json");
      // Byte for byte Go's json.Marshal of the image's Heartbeat, which escapes < and >.
      assert.equal(request.body.toString(), `{"id":${index + 1},"label":"\\u003cok\\u003e"}`);
    });
    assert.notEqual(beats[0]!.headers["ce-id"], beats[1]!.headers["ce-id"]);
    // One per second: never earlier than the period.
    assert.ok(beats[1]!.at - beats[0]!.at >= 900, `${beats[1]!.at - beats[0]!.at} ms between beats`);
    assert.ok(beats[2]!.at - beats[0]!.at >= 1_900, `${beats[2]!.at - beats[0]!.at} ms for two periods`);
    assert.equal(await herald.delete(path("heartbeats", "tracing-sample")), 200);
  });

  it("runs the published sample, which sets no POD_NAME, named after the ContainerSource", async () => {
    const sample = readFileSync(
      join(
        corpus,
        "knative/docs/docs/versioned/eventing/custom-event-source/containersource/README.md.block0.yaml",
      ),
      "utf8",
    ).replace(/sink:[\s\S]*$/, `sink: { uri: "${sink.url}heartbeat-source" }\n`);
    await herald.apply(sample);
    const first = await eventually(
      () => sink.requests.find((request) => request.url === "/heartbeat-source"),
      { message: "the sample's first heartbeat" },
    );
    assert.equal(
      first.headers["ce-source"],
      "https://knative.dev/eventing-contrib/cmd/heartbeats/#default/heartbeat-source",
    );
    assert.equal(first.body.toString(), '{"id":1,"label":""}');
    assert.equal((await readyOf("heartbeat-source")).ready?.status, "True");
    assert.equal(await herald.delete(path("heartbeat-source")), 200);
  });

  it("stops sending once deleted", async () => {
    const heartbeats = (name: string) => `
apiVersion: sources.knative.dev/v1
kind: ContainerSource
metadata: { name: ${name} }
spec:
  template: { spec: { containers: [{ image: "ko://knative.dev/eventing/cmd/heartbeats", args: ["--period", "200ms"] }] } }
  sink: { uri: "${sink.url}${name}" }
`;
    const countOf = (name: string) => sink.requests.filter((request) => request.url === `/${name}`).length;
    await herald.apply(heartbeats("deleted"));
    await eventually(() => countOf("deleted") >= 2, { message: "two heartbeats" });
    assert.equal(await herald.delete(path("deleted")), 200);
    const sent = countOf("deleted");
    // Another one beating five times is a second of the first one's silence.
    await herald.apply(heartbeats("witness"));
    await eventually(() => countOf("witness") >= 5, { message: "five heartbeats of the witness" });
    assert.equal(countOf("deleted"), sent);
    assert.equal(await herald.delete(path("witness")), 200);
  });

  it("is refused at apply when an arg is one the image does not take, naming it", async () => {
    const text = await herald.applyRejected(`
apiVersion: sources.knative.dev/v1
kind: ContainerSource
metadata: { name: wrong-flag }
spec:
  template:
    spec:
      containers: [{ image: "ko://knative.dev/eventing/cmd/heartbeats", args: ["--period=1", "--frequency=2"] }]
  sink: { uri: "${sink.url}" }
`);
    assert.match(text, /spec\.template\.spec\.containers\[0\]\.args\[1\]/);
    assert.match(text, /--frequency=2 is not a flag of this image/);
  });

  it("keeps another image-only container not Ready, naming the images Herald runs", async () => {
    await herald.apply(`
apiVersion: sources.knative.dev/v1
kind: ContainerSource
metadata: { name: other-image }
spec:
  template: { spec: { containers: [{ name: node, image: "docker.io/myregistry/node-heartbeat-source:v1" }] } }
  sink: { uri: "${sink.url}" }
`);
    const ready = await eventually(async () => {
      const found = (await readyOf("other-image")).ready;
      return found?.reason === "ImageNotRunnable" && found;
    });
    assert.equal(ready.status, "False");
    assert.match(
      ready.message ?? "",
      /node names only the image docker\.io\/myregistry\/node-heartbeat-source:v1/,
    );
    assert.match(ready.message ?? "", /knative\.dev\/eventing\/cmd\/heartbeats/);
    // Knative's SourceStatus leaves out the attributes of what it does not know.
    assert.equal((await readyOf("other-image")).status.ceAttributes, undefined);
    assert.equal(await herald.delete(path("other-image")), 200);
  });

  it("still refuses a container with a command, even of the heartbeats image, without --allow-process-sources", async () => {
    const text = await herald.applyRejected(`
apiVersion: sources.knative.dev/v1
kind: ContainerSource
metadata: { name: with-command }
spec:
  template:
    spec:
      containers: [{ image: "ko://knative.dev/eventing/cmd/heartbeats", command: ["/ko-app/heartbeats"] }]
  sink: { uri: "${sink.url}" }
`);
    assert.match(text, /would run a command on Herald's host.*allow-process-sources/);
  });
});
