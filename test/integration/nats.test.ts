// needs: nats
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { HeraldProcess, postEvent } from "../support/herald.js";
import { startNatsServer, type NatsServer } from "../support/nats.js";
import { startReceiver, type Receiver } from "../support/receiver.js";
import { channelWithSubscription, expectNoLossAcrossKill, missing } from "../support/streams.js";

const manifests = (subscriber: string, name: string) =>
  channelWithSubscription({
    name,
    subscriber,
    template: "apiVersion: messaging.knative.dev/v1alpha1\n    kind: NatsJetStreamChannel",
  });

const readyOf = (resource: { status: Record<string, unknown> }) =>
  (resource.status.conditions as { type: string; status: string }[] | undefined)?.find(
    (c) => c.type === "Ready",
  )?.status;

describe("NatsJetStreamChannel through Herald's ingress", () => {
  let receiver: Receiver;
  let herald: HeraldProcess;
  before(async () => {
    receiver = await startReceiver();
    herald = await HeraldProcess.start();
  });
  after(async () => {
    await herald.close();
    await receiver.close();
  });

  it("delivers every 202 event after Herald is SIGKILLed mid-stream", async () => {
    const [channel] = await herald.apply(manifests(receiver.url, "nats-kill"));
    assert.equal(readyOf(channel!), "True");
    await expectNoLossAcrossKill(herald, "nats-kill", receiver);
  });
});

describe("NatsJetStreamChannel when NATS goes away", () => {
  let receiver: Receiver;
  let nats: NatsServer;
  let herald: HeraldProcess;
  before(async () => {
    receiver = await startReceiver();
    nats = await startNatsServer();
    herald = await HeraldProcess.start({ env: { HERALD_NATS_URL: nats.url } });
  });
  after(async () => {
    await herald.close();
    await nats.destroy();
    await receiver.close();
  });

  it("answers 503 while NATS is down, and takes and delivers events again when it is back", async () => {
    await herald.apply(manifests(receiver.url, "nats-outage"));
    assert.equal(await postEvent(herald.channelUrl("nats-outage"), { id: "before" }), 202);
    await eventually(() => receiver.requests.length === 1, { message: "the first event delivered" });
    await nats.stop();
    assert.equal(await postEvent(herald.channelUrl("nats-outage"), { id: "during" }), 503);
    await eventually(async () => (await fetch(`${herald.url}/readyz`)).status === 503, {
      message: "/readyz to report the NATS backend down",
    });
    await nats.restart();
    await eventually(
      async () => (await postEvent(herald.channelUrl("nats-outage"), { id: "after" })) === 202,
      { timeoutMs: 30_000, intervalMs: 250, message: "ingress to accept events again" },
    );
    await eventually(() => missing(new Set(["before", "after"]), receiver).length === 0, {
      timeoutMs: 30_000,
      message: "the event accepted after the outage delivered",
    });
    await eventually(async () => (await fetch(`${herald.url}/readyz`)).status === 200, {
      message: "/readyz ready again",
    });
  });
});
