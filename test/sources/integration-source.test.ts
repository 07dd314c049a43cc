import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/**
 * sources.knative.dev/v1alpha1 IntegrationSource: `spec.timer` runs in Herald and sends what
 * Knative's timer-source connector sends; its AWS sources are refused at apply (unrun-kinds.test.ts).
 */
interface Status {
  sinkUri?: string;
  ceAttributes?: { type: string; source: string }[];
  conditions?: { type: string; status: string; reason?: string; message?: string }[];
}

const timerSource = (name: string, timer: string, sink: string) => `
apiVersion: sources.knative.dev/v1alpha1
kind: IntegrationSource
metadata: { name: ${name}, namespace: timers }
spec:
  timer: ${timer}
  sink: { uri: "${sink}" }
`;

const TIMER_DOC = join(
  import.meta.dirname,
  "../../../shared/knative-manifests/knative/docs/docs/versioned/eventing/sources/integration-source/timer.md.block0.yaml",
);

const path = (name: string) =>
  `/apis/sources.knative.dev/v1alpha1/namespaces/timers/integrationsources/${name}`;

describe("IntegrationSource timer", () => {
  let herald: InProcessHerald;
  const receivers: Receiver[] = [];
  const receiver = async () => {
    const started = await startReceiver();
    receivers.push(started);
    return started;
  };

  before(async () => {
    herald = await InProcessHerald.start();
  });
  after(async () => {
    await herald.close();
    await Promise.all(receivers.map((r) => r.close()));
  });

  const problemsOf = async (yaml: string) =>
    (
      (
        JSON.parse(await herald.applyRejected(yaml)) as {
          details?: { problems?: { path: string; message: string }[] };
        }
      ).details?.problems ?? []
    ).map((problem) => `${problem.path}: ${problem.message}`);

  it("sends the message every period with Knative's timer type, source and subject, and is Ready", async () => {
    const sink = await receiver();
    await herald.apply(timerSource("hello", '{ period: 100, message: "Hello, Eventing Core" }', sink.url));
    await eventually(() => sink.requests.length >= 2, { message: "two timer events" });
    for (const request of sink.requests.slice(0, 2)) {
      assert.equal(request.headers["ce-type"], "dev.knative.eventing.timer");
      assert.equal(request.headers["ce-source"], "dev.knative.eventing.timer-source");
      assert.equal(request.headers["ce-subject"], "timer-source");
      assert.equal(request.headers["ce-specversion"], "1.0");
      assert.equal(request.headers["content-type"], "text/plain");
      assert.equal(request.body.toString(), "Hello, Eventing Core");
    }
    assert.notEqual(sink.requests[0]!.headers["ce-id"], sink.requests[1]!.headers["ce-id"]);

    const status = await eventually(async () => {
      const current = (await herald.get<{ status?: Status }>(path("hello"))).body.status;
      return current?.conditions?.find((c) => c.type === "Ready")?.status === "True" && current;
    });
    assert.deepEqual(
      status.conditions?.map((c) => [c.type, c.status]),
      [
        ["ContainerSourceReady", "True"],
        ["Deployed", "True"],
        ["Ready", "True"],
        ["SinkProvided", "True"],
      ],
    );
    assert.equal(status.sinkUri, sink.url);
    assert.deepEqual(status.ceAttributes, [
      { type: "dev.knative.eventing.timer", source: "dev.knative.eventing.timer-source" },
    ]);
  });

  it("runs Knative's timer example unchanged, sending to its Broker", async () => {
    const subscriber = await receiver();
    await herald.apply(`apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: default, namespace: knative-samples }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: timer-events, namespace: knative-samples }
spec:
  broker: default
  filter: { attributes: { type: dev.knative.eventing.timer } }
  subscriber: { uri: "${subscriber.url}" }
`);
    await herald.apply(readFileSync(TIMER_DOC, "utf8"));
    await eventually(() => subscriber.requests.length >= 1, { message: "the example's event" });
    assert.equal(subscriber.requests[0]!.body.toString(), "Hello, Eventing Core");
    assert.equal(subscriber.requests[0]!.headers["ce-source"], "dev.knative.eventing.timer-source");
  });

  it("sends its contentType and the connector's default message", async () => {
    const sink = await receiver();
    await herald.apply(timerSource("typed", "{ period: 100, contentType: application/json }", sink.url));
    await eventually(() => sink.requests.length >= 1, { message: "a timer event" });
    assert.equal(sink.requests[0]!.headers["content-type"], "application/json");
    assert.equal(sink.requests[0]!.body.toString(), "Timer source event!");
  });

  it("stops after repeatCount fires", async () => {
    const counted = await receiver();
    const running = await receiver();
    await herald.apply(timerSource("twice", "{ period: 50, repeatCount: 2 }", counted.url));
    await eventually(() => counted.requests.length >= 2, { message: "the two fires" });
    // A timer without repeatCount, started after, fires many times meanwhile: long enough for a third fire.
    await herald.apply(timerSource("witness", "{ period: 50 }", running.url));
    await eventually(() => running.requests.length >= 6, { message: "six fires of the witness" });
    assert.equal(counted.requests.length, 2);
  });

  it("counts repeatCount across a restart of Herald", async () => {
    const counted = await receiver();
    const running = await receiver();
    const dataDir = await mkdtemp(join(tmpdir(), "herald-timer-"));
    try {
      const first = await InProcessHerald.start({ dataDir });
      await first.apply(timerSource("once", "{ period: 50, repeatCount: 1 }", counted.url));
      await eventually(() => counted.requests.length >= 1, { message: "the one fire" });
      await first.close();
      const second = await InProcessHerald.start({ dataDir });
      try {
        // The stored source restarts; a witness timer started after it fires meanwhile.
        await second.apply(timerSource("witness", "{ period: 50 }", running.url));
        await eventually(() => running.requests.length >= 6, { message: "six fires of the witness" });
        assert.equal(counted.requests.length, 1);
      } finally {
        await second.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("refuses unknown fields, a source without a type, and two types at once, naming the field", async () => {
    assert.deepEqual(await problemsOf(timerSource("typo", "{ perod: 100 }", "http://127.0.0.1:1/")), [
      "spec.timer.perod: unknown field",
    ]);
    assert.deepEqual(
      await problemsOf(`apiVersion: sources.knative.dev/v1alpha1
kind: IntegrationSource
metadata: { name: none, namespace: timers }
spec:
  sink: { uri: "http://127.0.0.1:1/" }
`),
      ["spec: at least one source type must be specified (timer, aws.s3, aws.sqs, aws.ddbStreams)"],
    );
    const both = await problemsOf(`apiVersion: sources.knative.dev/v1alpha1
kind: IntegrationSource
metadata: { name: both, namespace: timers }
spec:
  timer: { period: 100 }
  aws: { s3: { arn: my-bucket, region: eu-north-1 } }
  sink: { uri: "http://127.0.0.1:1/" }
`);
    assert.ok(both.includes("spec: only one source type can be set, not timer and aws.s3"), both.join("\n"));
  });
});
