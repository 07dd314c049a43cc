// needs: pubsub
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { HeraldProcess, postEvent } from "../support/herald.js";
import { startPubSubEmulator, type PubSubEmulator } from "../support/pubsub.js";
import { startReceiver, type Receiver } from "../support/receiver.js";
import { channelWithSubscription, expectNoLossAcrossKill } from "../support/streams.js";

const manifests = (subscriber: string, suffix: string) =>
  channelWithSubscription({
    name: `orders-${suffix}`,
    subscriber,
    template: "apiVersion: messaging.herald.dev/v1alpha1\n    kind: PubSubChannel",
    templateSpec: "{ ackDeadline: PT10S }",
  });

describe("PubSubChannel through Herald's ingress", () => {
  let receiver: Receiver;
  before(async () => {
    receiver = await startReceiver();
  });
  after(async () => {
    await receiver.close();
  });

  it("reports the topic in status and delivers every 202 event after Herald is SIGKILLed mid-stream", async () => {
    const herald = await HeraldProcess.start();
    try {
      const [channel] = await herald.apply(manifests(receiver.url, "kill"));
      assert.equal(
        (channel!.status.conditions as { type: string; status: string }[]).find((c) => c.type === "Ready")
          ?.status,
        "True",
      );
      const backing = await herald.get<{ status: { topic?: string } }>(
        "/apis/messaging.herald.dev/v1alpha1/namespaces/default/pubsubchannels/orders-kill",
      );
      assert.ok(backing.body.status.topic, JSON.stringify(backing.body.status));
      await expectNoLossAcrossKill(herald, "orders-kill", receiver);
    } finally {
      await herald.close();
    }
  });

  it("answers 503 while the emulator is down and recovers by itself when it is back", async () => {
    const emulator: PubSubEmulator = await startPubSubEmulator();
    const herald = await HeraldProcess.start({ env: { PUBSUB_EMULATOR_HOST: emulator.host } });
    try {
      await herald.apply(manifests(receiver.url, "outage"));
      assert.equal(await postEvent(herald.channelUrl("orders-outage"), { id: "before-outage" }), 202);
      await eventually(() => receiver.requests.some((r) => r.headers["ce-id"] === "before-outage"));
      await emulator.stop();
      assert.equal(await postEvent(herald.channelUrl("orders-outage"), { id: "during-outage" }), 503);
      await emulator.restart();
      // The emulator forgot the topic and subscription: Herald re-creates them and accepts again.
      await eventually(
        async () => (await postEvent(herald.channelUrl("orders-outage"), { id: "after-outage" })) === 202,
        {
          timeoutMs: 60_000,
          intervalMs: 500,
        },
      );
      await eventually(() => receiver.requests.some((r) => r.headers["ce-id"] === "after-outage"), {
        timeoutMs: 60_000,
      });
    } finally {
      await herald.close();
      await emulator.stop();
    }
  });
});
