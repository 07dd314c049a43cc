import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { HeraldProcess } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

interface SourceStatus {
  status: {
    sinkUri?: string;
    webhookUrl?: string;
    ceAttributes?: { type: string; source: string }[];
    lastExit?: { exitCode: number | null };
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

const condition = (body: SourceStatus, type: string) => body.status.conditions?.find((c) => c.type === type);

describe("sources", () => {
  let herald: HeraldProcess;
  const receivers: Receiver[] = [];
  const receiver = async (respond?: Receiver["respond"]) => {
    const started = await startReceiver(respond);
    receivers.push(started);
    return started;
  };
  const path = (plural: string, name: string, group = "sources.knative.dev/v1") =>
    `/apis/${group}/namespaces/default/${plural}/${name}`;

  before(async () => {
    // ProcessSources are applied through the API here.
    herald = await HeraldProcess.start({ args: ["--allow-process-sources"] });
  });
  after(async () => {
    await herald.close();
    await Promise.all(receivers.map((r) => r.close()));
  });

  describe("PingSource", () => {
    it("fires on its schedule with Knative's attributes, the data and the ceOverrides", async () => {
      const sink = await receiver();
      await herald.apply(`
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: { name: every-second }
spec:
  schedule: "* * * * * *"
  contentType: application/json
  data: '{"message": "hello"}'
  ceOverrides: { extensions: { team: payments } }
  sink: { uri: "${sink.url}" }
`);
      await eventually(() => sink.requests.length >= 2, { message: "two ping events" });
      const [first, second] = sink.requests;
      assert.equal(first!.headers["ce-type"], "dev.knative.sources.ping");
      assert.equal(first!.headers["ce-source"], "/apis/v1/namespaces/default/pingsources/every-second");
      assert.equal(first!.headers["ce-team"], "payments");
      assert.equal(first!.headers["content-type"], "application/json");
      assert.deepEqual(JSON.parse(first!.body.toString()), { message: "hello" });
      assert.notEqual(first!.headers["ce-id"], second!.headers["ce-id"]);
      // The scheduled times are whole seconds, one second apart.
      const times = [first, second].map((r) => Date.parse(String(r!.headers["ce-time"])));
      assert.equal(times[0]! % 1000, 0);
      assert.equal(times[1]! - times[0]!, 1000);

      const { body } = await herald.get<SourceStatus>(path("pingsources", "every-second"));
      assert.equal(condition(body, "Ready")?.status, "True");
      assert.equal(condition(body, "SinkProvided")?.status, "True");
      assert.equal(body.status.sinkUri, sink.url);
      assert.deepEqual(body.status.ceAttributes, [
        { type: "dev.knative.sources.ping", source: "/apis/v1/namespaces/default/pingsources/every-second" },
      ]);
    });

    it("stops firing when deleted", async () => {
      assert.equal(await herald.delete(path("pingsources", "every-second")), 200);
      const sink = receivers[0]!;
      const count = sink.requests.length;
      // Another source's events mark the passing seconds: three of them, and the deleted one sent nothing.
      const clock = await receiver();
      await herald.apply(`
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: { name: clock }
spec:
  schedule: "* * * * * *"
  sink: { uri: "${clock.url}" }
`);
      await eventually(() => clock.requests.length >= 3, { message: "three clock events" });
      assert.equal(sink.requests.length, count);
    });

    it("resolves a sink ref, reports a missing one, and retries a sink that is down", async () => {
      await herald.apply(`
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: ping-channel }
---
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: { name: to-channel }
spec:
  schedule: "0 0 1 1 *"
  sink: { ref: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: ping-channel } }
`);
      const { body } = await eventually(async () => {
        const result = await herald.get<SourceStatus>(path("pingsources", "to-channel"));
        return condition(result.body, "Ready")?.status === "True" && result;
      });
      assert.equal(body.status.sinkUri, `${herald.url}/channels/default/ping-channel`);
      // A sink ref to a missing resource is reported, not crashed on.
      await herald.apply(`
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: { name: dangling }
spec:
  schedule: "* * * * * *"
  sink: { ref: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: nowhere } }
`);
      const dangling = await herald.get<SourceStatus>(path("pingsources", "dangling"));
      assert.equal(condition(dangling.body, "SinkProvided")?.status, "False");
      assert.match(condition(dangling.body, "Ready")?.message ?? "", /Channel default\/nowhere not found/);

      // Sink down then up, straight to the receiver: the first event is refused three times and
      // retried until it is accepted.
      let firstId: unknown;
      const flaky = await receiver((request) => {
        firstId ??= request.headers["ce-id"];
        const attempts = flaky.requests.filter((r) => r.headers["ce-id"] === firstId).length;
        return { status: request.headers["ce-id"] === firstId && attempts <= 3 ? 503 : 202 };
      });
      await herald.apply(`
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: { name: flaky }
spec:
  schedule: "* * * * * *"
  sink: { uri: "${flaky.url}" }
`);
      await eventually(() => flaky.requests.filter((r) => r.headers["ce-id"] === firstId).length === 4, {
        message: "the refused event's fourth attempt",
      });
    });

    it("neither fires twice nor replays missed fires across a restart", async () => {
      const sink = await receiver();
      await herald.apply(`
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: { name: restart }
spec:
  schedule: "* * * * * *"
  sink: { uri: "${sink.url}" }
`);
      await eventually(() => sink.requests.length >= 2);
      await herald.stop();
      const stoppedAt = Date.now();
      await delay(2_500); // the downtime under test, not a synchronisation
      const restartedAt = Date.now();
      await herald.start();
      const before = sink.requests.length;
      await eventually(() => sink.requests.length >= before + 2, { message: "fires after the restart" });
      const times = sink.requests
        .filter((r) => r.headers["ce-source"] === "/apis/v1/namespaces/default/pingsources/restart")
        .map((r) => Date.parse(String(r.headers["ce-time"])));
      assert.equal(new Set(times).size, times.length, "a scheduled time fired twice");
      const replayed = times.filter((t) => t > stoppedAt && t < restartedAt - 1000);
      assert.deepEqual(replayed, [], "missed fires were replayed");
    });

    it("rejects a bad spec naming the fields", async () => {
      const text = await herald.applyRejected(
        `
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: { name: bad }
spec:
  schedule: "every tuesday"
  timezone: Mars/Olympus
  data: "x"
  dataBase64: "eA=="
  sink: { uri: "not a url" }
`,
      );
      for (const field of ["spec.schedule", "spec.timezone", "spec.dataBase64", "spec.sink.uri"]) {
        assert.match(text, new RegExp(field.replace(/\./g, "\\.")), field);
      }
    });
  });

  describe("GitHubSource", () => {
    const secret = "It's a Secret to Everybody";
    const push = JSON.stringify({
      ref: "refs/heads/main",
      compare: "https://github.com/octo/hello/compare/a10867b14bb7...000000000000",
      created: false,
      deleted: false,
      forced: false,
      pusher: { name: "octocat" },
      repository: { id: 1296269, name: "hello", owner: { login: "octo" } },
      sender: { login: "octocat" },
    });
    const sign = (body: string, key = secret) =>
      `sha256=${createHmac("sha256", key).update(body).digest("hex")}`;
    let webhook: string;
    let sink: Receiver;
    /** A GitHubSource for octo/hello push events with the shared secret, sending to `sinkUrl`. */
    const source = (name: string, sinkUrl: string) => `
apiVersion: sources.knative.dev/v1alpha1
kind: GitHubSource
metadata: { name: ${name} }
spec:
  ownerAndRepository: octo/hello
  eventTypes: [push]
  secretToken: { secretKeyRef: { name: github-secret, key: secretToken } }
  sink: { uri: "${sinkUrl}" }
`;
    /** POSTs the signed push payload as GitHub would; resolves with the HTTP status. */
    const deliverPush = async (url: string, delivery: string) =>
      (
        await fetch(url, {
          method: "POST",
          headers: {
            "x-github-event": "push",
            "x-github-delivery": delivery,
            "x-hub-signature-256": sign(push),
          },
          body: push,
        })
      ).status;

    it("turns a signed webhook into Knative's GitHub event", async () => {
      sink = await receiver();
      await herald.apply(`
apiVersion: v1
kind: Secret
metadata: { name: github-secret }
data:
  secretToken: ${Buffer.from(secret).toString("base64")}
---
apiVersion: sources.knative.dev/v1alpha1
kind: GitHubSource
metadata: { name: hello }
spec:
  ownerAndRepository: octo/hello
  eventTypes: [push, pull_request]
  secretToken: { secretKeyRef: { name: github-secret, key: secretToken } }
  ceOverrides: { extensions: { env: test } }
  sink: { uri: "${sink.url}" }
`);
      const { body } = await eventually(async () => {
        const result = await herald.get<SourceStatus>(
          path("githubsources", "hello", "sources.knative.dev/v1alpha1"),
        );
        return condition(result.body, "Ready")?.status === "True" && result;
      });
      webhook = body.status.webhookUrl!;
      assert.equal(webhook, `${herald.url}/sources/default/hello`);
      assert.equal(await deliverPush(webhook, "72d3162e-cc78-11e3-81ab-4c9367dc0958"), 202);
      const event = await eventually(() => sink.requests[0]);
      assert.equal(event.headers["ce-type"], "dev.knative.source.github.push");
      assert.equal(event.headers["ce-id"], "72d3162e-cc78-11e3-81ab-4c9367dc0958");
      assert.equal(event.headers["ce-source"], "https://github.com/octo/hello");
      assert.equal(event.headers["ce-subject"], "a10867b14bb7...000000000000");
      assert.equal(event.headers["ce-ref"], "refs/heads/main");
      assert.equal(event.headers["ce-owner"], "octo");
      assert.equal(event.headers["ce-env"], "test");
      assert.deepEqual(JSON.parse(event.body.toString()), JSON.parse(push));
    });

    it("rejects a bad or missing signature with 401 and sends nothing", async () => {
      const count = sink.requests.length;
      for (const signature of [sign(push, "wrong secret"), undefined]) {
        const response = await fetch(webhook, {
          method: "POST",
          headers: {
            "x-github-event": "push",
            "x-github-delivery": "bad",
            ...(signature ? { "x-hub-signature-256": signature } : {}),
          },
          body: push,
        });
        assert.equal(response.status, 401);
      }
      // An event type the source does not want is acknowledged and dropped.
      const issue = JSON.stringify({ issue: { number: 1 }, action: "opened" });
      const ignored = await fetch(webhook, {
        method: "POST",
        headers: {
          "x-github-event": "issues",
          "x-github-delivery": "i-1",
          "x-hub-signature-256": sign(issue),
        },
        body: issue,
      });
      assert.equal(ignored.status, 204);
      // A wanted event after them arrives, and is the only one.
      const pr = JSON.stringify({ number: 7, action: "opened", pull_request: { number: 7 } });
      const accepted = await fetch(webhook, {
        method: "POST",
        headers: {
          "x-github-event": "pull_request",
          "x-github-delivery": "pr-7",
          "x-hub-signature-256": sign(pr),
        },
        body: pr,
      });
      assert.equal(accepted.status, 202);
      await eventually(() => sink.requests.length === count + 1);
      assert.equal(sink.requests[count]!.headers["ce-subject"], "7");
      assert.equal(sink.requests[count]!.headers["ce-number"], "7");
    });

    it("waits for a sink that refuses, then answers 202; a deleted source's webhook is gone", async () => {
      const refusing = await receiver((_request, index) => ({ status: index < 2 ? 503 : 202 }));
      await herald.apply(source("refusing", refusing.url));
      const url = `${herald.url}/sources/default/refusing`;
      assert.equal(await deliverPush(url, "d-2"), 202);
      assert.equal(refusing.requests.length, 3);
      assert.ok(refusing.requests.every((r) => r.headers["ce-id"] === "d-2"));

      assert.equal(
        await herald.delete(path("githubsources", "refusing", "sources.knative.dev/v1alpha1")),
        200,
      );
      assert.equal(await deliverPush(url, "d-3"), 404);
      assert.equal(refusing.requests.length, 3);
    });

    it("answers 502 when the sink refuses the event for good, and counts it", async () => {
      const refusing = await receiver(() => ({ status: 400 }));
      await herald.apply(source("refused", refusing.url));
      assert.equal(await deliverPush(`${herald.url}/sources/default/refused`, "d-9"), 502);
      assert.equal(refusing.requests.length, 1, "a 400 is not retried");
      const metrics = await (await fetch(`${herald.url}/metrics`)).text();
      assert.match(
        metrics,
        /herald_source_events_total\{kind="GitHubSource",namespace="default",name="refused",outcome="rejected"\} 1\n/,
      );
    });

    it("rejects a spec without a secret token", async () => {
      const text = await herald.applyRejected(
        `
apiVersion: sources.knative.dev/v1alpha1
kind: GitHubSource
metadata: { name: no-secret }
spec:
  ownerAndRepository: octo/hello
  eventTypes: []
  sink: { uri: "http://127.0.0.1:1/" }
`,
      );
      assert.match(text, /spec\.secretToken/);
      assert.match(text, /spec\.eventTypes/);
    });
  });

  describe("ProcessSource", () => {
    // Posts one event to K_SINK with the overrides from K_CE_OVERRIDES, then exits or keeps running.
    const script = (exitCode: number | "stay") => `
const overrides = JSON.parse(process.env.K_CE_OVERRIDES).extensions;
const headers = { "ce-specversion": "1.0", "ce-id": String(process.pid), "ce-type": "dev.herald.test.process",
  "ce-source": "/process", "content-type": "text/plain" };
for (const [name, value] of Object.entries(overrides)) headers["ce-" + name] = value;
fetch(process.env.K_SINK, { method: "POST", headers, body: String(process.pid) }).then(() => {
  ${exitCode === "stay" ? "setInterval(() => {}, 1000);" : `process.exit(${exitCode});`}
});`;

    it("runs the command with K_SINK and K_CE_OVERRIDES, restarts it and reports its last exit", async () => {
      const sink = await receiver();
      await herald.apply(`
apiVersion: sources.herald.dev/v1alpha1
kind: ProcessSource
metadata: { name: emitter }
spec:
  command: ["${process.execPath}", "-e", ${JSON.stringify(script(3))}]
  ceOverrides: { extensions: { origin: local } }
  sink: { uri: "${sink.url}" }
`);
      await eventually(() => sink.requests.length >= 2, { message: "a restarted process to send again" });
      assert.equal(sink.requests[0]!.headers["ce-origin"], "local");
      assert.notEqual(sink.requests[0]!.headers["ce-id"], sink.requests[1]!.headers["ce-id"]);
      const { body } = await eventually(async () => {
        const result = await herald.get<SourceStatus>(
          path("processsources", "emitter", "sources.herald.dev/v1alpha1"),
        );
        return result.body.status.lastExit && result;
      });
      assert.equal(body.status.lastExit?.exitCode, 3);
    });

    it("rejects a bad spec naming the fields", async () => {
      const text = await herald.applyRejected(
        `
apiVersion: sources.herald.dev/v1alpha1
kind: ProcessSource
metadata: { name: bad }
spec:
  command: []
  env: [{ name: "1BAD", value: x }]
  sink: { ref: { kind: Channel, name: x } }
`,
      );
      for (const field of ["spec.command", "spec.env[0].name", "spec.sink.ref.apiVersion"]) {
        assert.ok(text.includes(field), field);
      }
    });

    it("shows a command that cannot start in status, and keeps retrying it", async () => {
      const sink = await receiver();
      await herald.apply(`
apiVersion: sources.herald.dev/v1alpha1
kind: ProcessSource
metadata: { name: missing-command }
spec:
  command: ["/nonexistent/herald-test-program"]
  sink: { uri: "${sink.url}" }
`);
      const path_ = path("processsources", "missing-command", "sources.herald.dev/v1alpha1");
      const { body } = await eventually(async () => {
        const result = await herald.get<SourceStatus & { status: { lastExit?: { error?: string } } }>(path_);
        const ready = condition(result.body, "Ready");
        return ready?.status === "False" && ready.reason === "Exited" && result;
      });
      assert.match(condition(body, "Ready")?.message ?? "", /failed to start: .*ENOENT.*restarting in/);
      assert.match(body.status.lastExit?.error ?? "", /ENOENT/);
      assert.equal(await herald.delete(path_), 200);
    });

    it("stops the process when the source is deleted", async () => {
      const sink = await receiver();
      await herald.apply(`
apiVersion: sources.herald.dev/v1alpha1
kind: ProcessSource
metadata: { name: daemon }
spec:
  command: ["${process.execPath}", "-e", ${JSON.stringify(script("stay"))}]
  sink: { uri: "${sink.url}" }
`);
      const event = await eventually(() => sink.requests[0]);
      const pid = Number(event.body.toString());
      assert.doesNotThrow(() => process.kill(pid, 0));
      assert.equal(await herald.delete(path("processsources", "daemon", "sources.herald.dev/v1alpha1")), 200);
      await eventually(
        () => {
          try {
            process.kill(pid, 0);
            return false;
          } catch {
            return true;
          }
        },
        { message: "the process to have exited" },
      );
    });
  });
});
