// needs: pubsub
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ChannelAdapter } from "../../../adapters/adapter.js";
import { HeraldError } from "../../../src/errors.js";
import { eventually } from "../../support/eventually.js";
import { startPubSubEmulator, type PubSubEmulator } from "../../support/pubsub.js";
import { channelTarget, createAdapter, deadline, subscriptionTarget, testEvent } from "./fixtures.js";

// An emulator of this test's own, since the test stops and restarts it.
let emulator: PubSubEmulator;
let adapter: ChannelAdapter;

before(async () => {
  emulator = await startPubSubEmulator();
  adapter = createAdapter(emulator.host);
});

after(async () => {
  await adapter?.close();
  await emulator?.stop();
});

describe("PubSubChannel adapter during a Pub/Sub outage", { timeout: 300_000 }, () => {
  it("rejects publish with BackendUnavailable while down, then re-creates the forgotten topology and recovers by itself", async () => {
    const channel = channelTarget();
    await adapter.createChannel(channel);
    const received = new Set<string>();
    const handle = await adapter.subscribe(channel, subscriptionTarget(), async (event) => {
      received.add(String(event.attributes.id));
    });
    await adapter.publish(channel, [testEvent("before-outage")], deadline());
    await eventually(() => received.has("before-outage"), {
      timeoutMs: 30_000,
      message: "delivery before the outage",
    });

    await emulator.stop();
    const started = Date.now();
    await assert.rejects(
      adapter.publish(channel, [testEvent("during-outage")], deadline(2_000)),
      (error: unknown) => {
        assert.ok(error instanceof HeraldError);
        assert.equal(error.code, "BackendUnavailable");
        return true;
      },
    );
    assert.ok(Date.now() - started < 3_000, "answered by the caller's deadline");
    assert.equal(await adapter.isReady(), false);

    // The restarted emulator has forgotten every topic and subscription.
    await emulator.restart();
    let attempt = 0;
    const accepted: string[] = [];
    await eventually(
      async () => {
        const id = `after-outage-${attempt++}`;
        await adapter.publish(channel, [testEvent(id)], deadline());
        accepted.push(id);
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 500, message: "publish to succeed again" },
    );
    assert.equal(await adapter.isReady(), true);
    await eventually(() => accepted.every((id) => received.has(id)), {
      timeoutMs: 60_000,
      message: "delivery of the event accepted after the restart",
    });
    await adapter.publish(channel, [testEvent("later")], deadline());
    await eventually(() => received.has("later"), {
      timeoutMs: 30_000,
      message: "delivery of a later event",
    });
    await handle.close();
    await adapter.deleteChannel(channel);
  });
});
