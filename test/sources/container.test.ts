import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/**
 * ContainerSource mapped to a local process: the container's command runs with K_SINK and
 * K_CE_OVERRIDES and its env (a Secret's value included); a container with only an image is not
 * Ready, saying why; and, like ProcessSource, none is accepted unless process sources are allowed.
 */
interface Status {
  status: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}
const corpus = resolve(dirname(fileURLToPath(import.meta.url)), "../../../shared/knative-manifests");
const path = (name: string) => `/apis/sources.knative.dev/v1/namespaces/default/containersources/${name}`;

/** A program that POSTs one event to K_SINK, naming what its environment held. */
const SENDER = `
fetch(process.env.K_SINK, {
  method: "POST",
  headers: {
    "ce-specversion": "1.0", "ce-id": "c-1", "ce-type": "com.example.heartbeat", "ce-source": "/container",
    "content-type": "application/json",
  },
  body: JSON.stringify({ greeting: process.env.GREETING, token: process.env.TOKEN, overrides: process.env.K_CE_OVERRIDES, arg: process.argv[1] }),
}).then(() => setInterval(() => {}, 1000));
`;

describe("ContainerSource", () => {
  let herald: InProcessHerald;
  let sink: Receiver;

  before(async () => {
    herald = await InProcessHerald.start({ config: { allowProcessSources: true } });
    sink = await startReceiver();
  });
  after(async () => {
    await herald.close();
    await sink.close();
  });

  it("runs the container's command with K_SINK, K_CE_OVERRIDES, its args and env from values and Secrets", async () => {
    await herald.apply(`
apiVersion: v1
kind: Secret
metadata: { name: heartbeat-secret }
stringData: { token: t0ken }
---
apiVersion: sources.knative.dev/v1
kind: ContainerSource
metadata: { name: heartbeat }
spec:
  template:
    spec:
      containers:
        - image: docker.io/example/heartbeats:v1
          name: heartbeats
          command: [${JSON.stringify(process.execPath)}, "-e", ${JSON.stringify(SENDER)}, "--"]
          args: ["--period=1"]
          env:
            - { name: GREETING, value: hello }
            - name: TOKEN
              valueFrom: { secretKeyRef: { name: heartbeat-secret, key: token } }
          securityContext: { runAsNonRoot: true }
  ceOverrides: { extensions: { team: platform } }
  sink: { uri: "${sink.url}" }
`);
    await eventually(() => sink.requests.length > 0, { timeoutMs: 20_000, message: "the process's event" });
    const body = JSON.parse(sink.requests[0]!.body.toString()) as Record<string, string>;
    assert.equal(body.greeting, "hello");
    assert.equal(body.token, "t0ken");
    assert.equal(body.arg, "--period=1");
    assert.deepEqual(JSON.parse(body.overrides!), { extensions: { team: "platform" } });
    const { body: source } = await herald.get<Status>(path("heartbeat"));
    assert.equal(source.status.conditions?.find((c) => c.type === "Running")?.status, "True");
    assert.equal(await herald.delete(path("heartbeat")), 200);
  });

  it("a published sample that names only an image Herald does not run is not Ready and says to give it a command", async () => {
    const sample = readFileSync(
      join(corpus, "knative/docs/code-samples/eventing/writing-event-source-easy-way/README.md.block1.yaml"),
      "utf8",
    ).replace(/sink:[\s\S]*$/, `sink: { uri: "${sink.url}" }\n`);
    await herald.apply(sample);
    const ready = await eventually(async () => {
      const { body } = await herald.get<Status>(path("heartbeat-source"));
      const found = body.status.conditions?.find((c) => c.type === "Ready");
      return found?.reason === "ImageNotRunnable" && found;
    });
    assert.equal(ready.status, "False");
    assert.match(
      ready.message ?? "",
      /names only the image docker\.io\/myregistry\/node-heartbeat-source:v1, .*give it a command/,
    );
  });

  it("is refused at apply when process sources are not allowed, as ProcessSource is", async () => {
    const other = await InProcessHerald.start();
    try {
      const text = await other.applyRejected(`
apiVersion: sources.knative.dev/v1
kind: ContainerSource
metadata: { name: refused }
spec:
  template: { spec: { containers: [{ name: c, command: ["true"] }] } }
  sink: { uri: "${sink.url}" }
`);
      assert.match(text, /allow-process-sources/);
    } finally {
      await other.close();
    }
  });
});
