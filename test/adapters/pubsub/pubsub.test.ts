// needs: pubsub
import { PubSub } from "@google-cloud/pubsub";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  UNDECODABLE_EVENT_TYPE,
  type ChannelAdapter,
  type DeliveryContext,
} from "../../../adapters/adapter.js";
import type { CloudEvent } from "../../../src/events/event.js";
import { eventually } from "../../support/eventually.js";
import { startPubSubEmulator, type PubSubEmulator } from "../../support/pubsub.js";
import { channelTarget, createAdapter, gate, PROJECT, subscriptionTarget, testEvent } from "./fixtures.js";

let emulatorHost = process.env.PUBSUB_EMULATOR_HOST ?? "";
let ownEmulator: PubSubEmulator | undefined;
let adapter: ChannelAdapter;
let raw: PubSub;

before(async () => {
  if (!emulatorHost) {
    ownEmulator = await startPubSubEmulator();
    emulatorHost = ownEmulator.host;
  }
  adapter = createAdapter(emulatorHost);
  raw = new PubSub({
    projectId: PROJECT,
    apiEndpoint: emulatorHost,
    emulatorMode: true,
    credentials: { client_email: "test@emulator.invalid", private_key: "unused" },
  });
});

after(async () => {
  await adapter.close();
  await raw.close();
  await ownEmulator?.stop();
});

const idsOf = (events: readonly CloudEvent[]) => events.map((event) => String(event.attributes.id));
const range = (count: number, prefix: string) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

describe("PubSubChannel adapter on the Pub/Sub emulator", { timeout: 180_000 }, () => {
  it("fans out: each of two subscriptions receives every event, attributes and data intact", async () => {
    const channel = channelTarget();
    await adapter.createChannel(channel);
    const first: CloudEvent[] = [];
    const second: CloudEvent[] = [];
    const handles = [
      await adapter.subscribe(channel, subscriptionTarget(), async (event) => void first.push(event)),
      await adapter.subscribe(channel, subscriptionTarget(), async (event) => void second.push(event)),
    ];
    const ids = range(10, "fan");
    await adapter.publish(
      channel,
      ids.map((id) =>
        testEvent(id, { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" }),
      ),
    );
    for (const received of [first, second]) {
      await eventually(() => ids.every((id) => idsOf(received).includes(id)), {
        timeoutMs: 30_000,
        message: "all events",
      });
    }
    const sample = first.find((event) => event.attributes.id === "fan-3")!;
    assert.deepEqual(
      sample.attributes,
      testEvent("fan-3", { traceparent: sample.attributes.traceparent as string }).attributes,
    );
    assert.equal(sample.attributes.traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    assert.equal(sample.data?.toString(), "payload of fan-3");
    await Promise.all(handles.map((handle) => handle.close()));
    await adapter.deleteChannel(channel);
  });

  it("ordered: keeps the order of each ordering key even when the handler rejects some attempts", async () => {
    const channel = channelTarget({ enableMessageOrdering: true });
    await adapter.createChannel(channel);
    const acked = new Map<string, string[]>();
    const attempts = new Map<string, number>();
    let inFlight = 0;
    let maxInFlight = 0;
    const handle = await adapter.subscribe(channel, subscriptionTarget("ordered", 10), async (event) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        const id = String(event.attributes.id);
        const attempt = (attempts.get(id) ?? 0) + 1;
        attempts.set(id, attempt);
        await Promise.resolve();
        // Every third event fails its first attempt and is redelivered.
        if (Number(id.split("-").pop()) % 3 === 1 && attempt === 1) throw new Error("not yet");
        const key = String(event.attributes.partitionkey);
        acked.set(key, [...(acked.get(key) ?? []), id]);
      } finally {
        inFlight--;
      }
    });
    const byKey = { alpha: range(8, "alpha"), beta: range(8, "beta") };
    const events = byKey.alpha.flatMap((id, i) => [
      testEvent(id, { partitionkey: "alpha" }),
      testEvent(byKey.beta[i]!, { partitionkey: "beta" }),
    ]);
    await adapter.publish(channel, events);
    await eventually(() => (acked.get("alpha")?.length ?? 0) >= 8 && (acked.get("beta")?.length ?? 0) >= 8, {
      timeoutMs: 90_000,
      message: "every event acknowledged",
    });
    // Redelivery after a rejection may repeat events (at-least-once); order is judged on first successes.
    const firstSuccesses = (ids: string[]) => ids.filter((id, index) => ids.indexOf(id) === index);
    assert.deepEqual(firstSuccesses(acked.get("alpha")!), byKey.alpha);
    assert.deepEqual(firstSuccesses(acked.get("beta")!), byKey.beta);
    assert.ok(
      [...attempts.values()].some((count) => count > 1),
      "some events were redelivered after a rejection",
    );
    assert.equal(maxInFlight, 1);
    await handle.close();
    await adapter.deleteChannel(channel);
  });

  it("unordered: runs handlers concurrently, never more than maxInFlight at once", async () => {
    const channel = channelTarget();
    await adapter.createChannel(channel);
    const release = gate();
    let inFlight = 0;
    let maxInFlight = 0;
    const done = new Set<string>();
    const handle = await adapter.subscribe(channel, subscriptionTarget("unordered", 4), async (event) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await release.promise;
      inFlight--;
      done.add(String(event.attributes.id));
    });
    const ids = range(12, "par");
    await adapter.publish(
      channel,
      ids.map((id) => testEvent(id)),
    );
    await eventually(() => inFlight === 4, { timeoutMs: 30_000, message: "4 handler calls in flight" });
    release.open();
    await eventually(() => ids.every((id) => done.has(id)), {
      timeoutMs: 30_000,
      message: "all events handled",
    });
    assert.equal(maxInFlight, 4);
    await handle.close();
    await adapter.deleteChannel(channel);
  });

  it("hands a message without CloudEvents attributes over as undecodable, with its raw bytes", async () => {
    const channel = channelTarget();
    const status = await adapter.createChannel(channel);
    const received: { event: CloudEvent; context: DeliveryContext }[] = [];
    const handle = await adapter.subscribe(channel, subscriptionTarget(), async (event, context) => {
      received.push({ event, context });
    });
    const messageId = await raw
      .topic(String(status.topic))
      .publishMessage({ data: Buffer.from("plain bytes"), attributes: { origin: "legacy" } });
    const [delivery] = await eventually(() => (received.length > 0 ? received : undefined), {
      timeoutMs: 30_000,
      message: "the undecodable message",
    });
    assert.equal(delivery!.event.attributes.type, UNDECODABLE_EVENT_TYPE);
    assert.equal(delivery!.event.attributes.id, messageId);
    assert.match(String(delivery!.event.attributes.source), new RegExp(`/pubsubchannels/${channel.name}$`));
    assert.equal(delivery!.event.data?.toString(), "plain bytes");
    assert.match(delivery!.context.undecodable ?? "", /ce-specversion/);
    await handle.close();
    await adapter.deleteChannel(channel);
  });

  it("creates the topic and subscription and deletes them with the channel and subscription", async () => {
    const channel = channelTarget({ topic: `custom-${Date.now()}`, ackDeadline: "PT20S" });
    const status = await adapter.createChannel(channel);
    assert.deepEqual(status, { project: PROJECT, topic: channel.spec.topic });
    await adapter.createChannel(channel); // idempotent
    const topic = raw.topic(String(status.topic));
    assert.equal((await topic.exists())[0], true);

    const kept = subscriptionTarget();
    const removed = subscriptionTarget("ordered", 1);
    await (await adapter.subscribe(channel, kept, async () => {})).close();
    await (await adapter.subscribe(channel, removed, async () => {})).close();
    const subscriptionsOf = async () => (await topic.getSubscriptions())[0].map((s) => s.name);
    const names = await subscriptionsOf();
    assert.equal(names.length, 2);
    const [metadata] = await raw.subscription(names.find((n) => n.includes(removed.uid))!).getMetadata();
    assert.equal(metadata.ackDeadlineSeconds, 20);
    assert.equal(metadata.enableMessageOrdering, true);

    await adapter.deleteSubscription(channel, removed);
    assert.deepEqual(
      await subscriptionsOf(),
      names.filter((n) => n.includes(kept.uid)),
    );
    await adapter.deleteChannel(channel);
    assert.equal((await topic.exists())[0], false);
    assert.equal((await raw.subscription(names.find((n) => n.includes(kept.uid))!).exists())[0], false);
  });

  it("a closed and re-subscribed subscription continues: events published meanwhile arrive, acked ones do not", async () => {
    const channel = channelTarget();
    await adapter.createChannel(channel);
    const subscription = subscriptionTarget();
    const before: string[] = [];
    let handle = await adapter.subscribe(
      channel,
      subscription,
      async (event) => void before.push(String(event.attributes.id)),
    );
    await adapter.publish(
      channel,
      range(5, "early").map((id) => testEvent(id)),
    );
    await eventually(() => before.length >= 5, { timeoutMs: 30_000, message: "early events" });
    await handle.close();

    await adapter.publish(
      channel,
      range(5, "late").map((id) => testEvent(id)),
    );
    const afterwards: string[] = [];
    handle = await adapter.subscribe(
      channel,
      subscription,
      async (event) => void afterwards.push(String(event.attributes.id)),
    );
    await eventually(() => range(5, "late").every((id) => afterwards.includes(id)), {
      timeoutMs: 30_000,
      message: "events published while closed",
    });
    // A marker published last arrives after anything that could still be redelivered.
    await adapter.publish(channel, [testEvent("marker")]);
    await eventually(() => afterwards.includes("marker"), { timeoutMs: 30_000, message: "marker" });
    assert.deepEqual(
      afterwards.filter((id) => id.startsWith("early")),
      [],
    );
    await handle.close();
    await adapter.deleteChannel(channel);
  });

  it("close waits for the handler call in flight and leaves an unacknowledged event for the next consumer", async () => {
    const channel = channelTarget();
    await adapter.createChannel(channel);
    const subscription = subscriptionTarget();
    const started = gate();
    const release = gate();
    const handle = await adapter.subscribe(channel, subscription, async () => {
      started.open();
      await release.promise;
      throw new Error("subscriber failed");
    });
    await adapter.publish(channel, [testEvent("pending")]);
    await started.promise;
    let closed = false;
    const closing = handle.close().then(() => (closed = true));
    await Promise.resolve();
    assert.equal(closed, false);
    release.open();
    await closing;
    const next: string[] = [];
    const reopened = await adapter.subscribe(
      channel,
      subscription,
      async (event) => void next.push(String(event.attributes.id)),
    );
    await eventually(() => next.includes("pending"), {
      timeoutMs: 60_000,
      message: "redelivery to the next consumer",
    });
    await reopened.close();
    await adapter.deleteChannel(channel);
  });

  it("calls a handler slower than the ack deadline once for its event (deadline extended)", async () => {
    const channel = channelTarget({ ackDeadline: "PT10S" });
    await adapter.createChannel(channel);
    const calls = new Map<string, number>();
    const release = gate();
    const handled = new Set<string>();
    const handle = await adapter.subscribe(
      channel,
      subscriptionTarget("unordered", 4),
      async (event, context) => {
        const id = String(event.attributes.id);
        calls.set(id, (calls.get(id) ?? 0) + 1);
        if (id === "slow") {
          context.extendDeadline?.(20_000);
          await release.promise;
        }
        handled.add(id);
      },
    );
    await adapter.publish(channel, [testEvent("slow")]);
    await eventually(() => calls.get("slow") === 1, { timeoutMs: 30_000, message: "the slow event" });
    // The work the handler stands for takes 15 s, longer than the 10 s ack deadline.
    const work = setTimeout(release.open, 15_000);
    await release.promise;
    clearTimeout(work);
    await eventually(() => handled.has("slow"), { timeoutMs: 10_000, message: "the slow handler to finish" });
    // A later event on the same subscription is handled; any redelivery of "slow" would have come first.
    await adapter.publish(channel, [testEvent("after")]);
    await eventually(() => handled.has("after"), { timeoutMs: 30_000, message: "the next event" });
    assert.equal(calls.get("slow"), 1);
    await handle.close();
    await adapter.deleteChannel(channel);
  });
});
