// needs: pubsub
import { PubSub, type SubscriptionOptions } from "@google-cloud/pubsub";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ChannelAdapter } from "../../../adapters/adapter.js";
import { gate, testIds } from "../../support/adapter-fixtures.js";
import { eventually } from "../../support/eventually.js";
import { startPubSubEmulator, type PubSubEmulator } from "../../support/pubsub.js";
import { channelTarget, createAdapter, deadline, subscriptionTarget, testEvent } from "./fixtures.js";

describe("PubSubChannel flow control and ack batching", () => {
  let ownEmulator: PubSubEmulator | undefined;
  let adapter: ChannelAdapter;
  /** The options of every streaming pull the adapter opens (it still opens them on the emulator). */
  const opened: SubscriptionOptions[] = [];
  let restore: () => void;

  before(async () => {
    let host = process.env.PUBSUB_EMULATOR_HOST ?? "";
    if (!host) {
      ownEmulator = await startPubSubEmulator();
      host = ownEmulator.host;
    }
    adapter = createAdapter(host);
    const subscription = Reflect.get<PubSub, "subscription">(PubSub.prototype, "subscription");
    PubSub.prototype.subscription = function (this: PubSub, name, options) {
      if (options) opened.push(options);
      return subscription.call(this, name, options);
    };
    restore = () => (PubSub.prototype.subscription = subscription);
  });
  after(async () => {
    restore();
    await adapter.close();
    await ownEmulator?.stop();
  });

  for (const { ordering, window, streams } of [
    { ordering: "unordered", window: 25, streams: 4 },
    { ordering: "ordered", window: 1, streams: 1 },
  ] as const)
    it(`${ordering}: holds ${window} message(s) at once, by count and bytes, sends acks within 5 ms, pulls on ${streams} stream(s)`, async () => {
      const channel = channelTarget(ordering === "ordered" ? { enableMessageOrdering: true } : {});
      await adapter.createChannel(channel);
      opened.length = 0;
      const handle = await adapter.subscribe(
        channel,
        subscriptionTarget(ordering, 25),
        async () => undefined,
      );
      try {
        const options = opened.at(-1);
        assert.ok(options, "the adapter opened a streaming pull");
        assert.deepEqual(options.flowControl, {
          maxMessages: window,
          maxBytes: window * 1024 * 1024,
          allowExcessMessages: false,
        });
        assert.ok(
          (options.batching?.maxMilliseconds ?? 100) <= 5,
          "acks wait 5 ms at most, not the library's 100 ms",
        );
        assert.equal(options.streamingOptions?.maxStreams, streams);
      } finally {
        await handle.close();
        await adapter.deleteChannel(channel);
      }
    });

  it("hands over maxInFlight events at once and acks every one of them", async () => {
    const channel = channelTarget();
    await adapter.createChannel(channel);
    const subscription = subscriptionTarget("unordered", 5);
    const held = gate();
    const delivered: string[] = [];
    let running = 0;
    let most = 0;
    const handle = await adapter.subscribe(channel, subscription, async (event) => {
      most = Math.max(most, ++running);
      await held.promise;
      running--;
      delivered.push(String(event.attributes.id));
    });
    try {
      await adapter.publish(
        channel,
        testIds("f", 20).map((id) => testEvent(id)),
        deadline(),
      );
      await eventually(() => running === 5, { timeoutMs: 30_000 });
      held.open();
      await eventually(() => delivered.length >= 20, { timeoutMs: 30_000 });
      assert.equal(most, 5);
      assert.deepEqual([...new Set(delivered)].sort(), testIds("f", 20).sort());
    } finally {
      await handle.close();
    }
    // Acked: a new consumer of the same subscription gets only what is published afterwards.
    const again: string[] = [];
    const next = await adapter.subscribe(channel, subscription, async (event) => {
      again.push(String(event.attributes.id));
    });
    try {
      await adapter.publish(channel, [testEvent("after")], deadline());
      await eventually(() => again.includes("after"), { timeoutMs: 30_000 });
      assert.deepEqual(again, ["after"]);
    } finally {
      await next.close();
      await adapter.deleteChannel(channel);
    }
  });
});
