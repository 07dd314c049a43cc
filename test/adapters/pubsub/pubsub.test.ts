// needs: pubsub
import { PubSub } from "@google-cloud/pubsub";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { ChannelAdapter } from "../../../adapters/adapter.js";
import { pubsubChannelSpecSchema, type PubSubChannelSpec } from "../../../adapters/pubsub/spec.js";
import { resolveTopology } from "../../../adapters/pubsub/topology.js";
import { eventually } from "../../support/eventually.js";
import { startPubSubEmulator, type PubSubEmulator } from "../../support/pubsub.js";
import { describeChannelAdapter } from "../conformance.js";
import {
  channelTarget,
  createAdapter,
  deadline,
  gate,
  PROJECT,
  subscriptionTarget,
  testEvent,
} from "./fixtures.js";

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

describeChannelAdapter<PubSubChannelSpec>(
  "PubSubChannel",
  {
    create: () => createAdapter(emulatorHost),
    // Message ordering is a topic setting: on for the ordered tests, off for the others.
    channelSpec: ({ ordered }) => pubsubChannelSpecSchema.parse({ enableMessageOrdering: ordered }),
    // Emulator mode speaks plaintext gRPC to any host:port; the silent server never answers it.
    unreachable: ({ host, port }) => createAdapter(`${host}:${port}`),
  },
  {
    durable: true,
    sharedAcrossInstances: true,
    orderedScope: "key",
    replay: { from: ["beginning", "time"] },
    // A message with no CloudEvents attributes, from Pub/Sub's own client.
    undecodable: async (channel, body) => {
      await raw.topic(resolveTopology(channel, PROJECT).topicName).publishMessage({ data: body });
    },
  },
);

const range = (count: number, prefix: string) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

describe("PubSubChannel adapter on the Pub/Sub emulator", { timeout: 180_000 }, () => {
  it("ordered: keeps each ordering key's order on its own, interleaved keys, while the handler rejects some attempts", async () => {
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
    await adapter.publish(channel, events, deadline());
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

  it("creates the topic and subscriptions (named after the subscription) and deletes them with their resources", async () => {
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
    const [metadata] = await raw.subscription(names.find((n) => n.includes(removed.name))!).getMetadata();
    assert.equal(metadata.ackDeadlineSeconds, 20);
    assert.equal(metadata.enableMessageOrdering, true);

    await adapter.deleteSubscription(channel, removed);
    assert.deepEqual(
      await subscriptionsOf(),
      names.filter((n) => n.includes(kept.name)),
    );
    await adapter.deleteChannel(channel);
    assert.equal((await topic.exists())[0], false);
    assert.equal((await raw.subscription(names.find((n) => n.includes(kept.name))!).exists())[0], false);
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
    await adapter.publish(channel, [testEvent("slow")], deadline());
    await eventually(() => calls.get("slow") === 1, { timeoutMs: 30_000, message: "the slow event" });
    // The work the handler stands for takes 15 s, longer than the 10 s ack deadline.
    const work = setTimeout(release.open, 15_000);
    await release.promise;
    clearTimeout(work);
    await eventually(() => handled.has("slow"), { timeoutMs: 10_000, message: "the slow handler to finish" });
    // A later event on the same subscription is handled; any redelivery of "slow" would have come first.
    await adapter.publish(channel, [testEvent("after")], deadline());
    await eventually(() => handled.has("after"), { timeoutMs: 30_000, message: "the next event" });
    assert.equal(calls.get("slow"), 1);
    await handle.close();
    await adapter.deleteChannel(channel);
  });

  it("two instances running the same subscription name with different uids pull from one Pub/Sub subscription", async () => {
    // Two Herald processes with the same manifests: uids are random per data directory.
    const other = createAdapter(emulatorHost);
    try {
      const channel = channelTarget();
      const status = await adapter.createChannel(channel);
      await other.createChannel({ ...channel, uid: randomUUID() });
      const subscription = subscriptionTarget();
      const handles = [
        await adapter.subscribe(channel, subscription, async () => {}),
        await other.subscribe(channel, { ...subscription, uid: randomUUID() }, async () => {}),
      ];
      const [attached] = await raw.topic(String(status.topic)).getSubscriptions();
      assert.deepEqual(
        attached.map((s) => s.name),
        [`projects/${PROJECT}/subscriptions/herald.default.${channel.name}.${subscription.name}`],
      );
      await Promise.all(handles.map((handle) => handle.close()));
      await adapter.deleteChannel(channel);
    } finally {
      await other.close();
    }
  });

  it("publishes with the topology resolved by createChannel, without reading the spec again", async () => {
    const channel = channelTarget({ enableMessageOrdering: true });
    await adapter.createChannel(channel);
    const received: string[] = [];
    const handle = await adapter.subscribe(
      channel,
      subscriptionTarget("ordered", 1),
      async (event) => void received.push(String(event.attributes.id)),
    );
    const specless = {
      namespace: channel.namespace,
      name: channel.name,
      uid: channel.uid,
      get spec(): PubSubChannelSpec {
        throw new Error("publish read the spec");
      },
    };
    const ids = range(5, "kept");
    await adapter.publish(
      specless,
      ids.map((id) => testEvent(id, { partitionkey: "one" })),
      deadline(),
    );
    await eventually(() => received.length >= ids.length, { timeoutMs: 30_000, message: "the events" });
    // In order: the kept topology still publishes with the partitionkey as the ordering key.
    assert.deepEqual(received, ids);
    await handle.close();
    await adapter.deleteChannel(channel);
  });
});
