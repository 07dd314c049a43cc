// needs: kafka
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ChannelAdapter, ChannelTarget } from "../../../adapters/adapter.js";
import { groupId, topicName } from "../../../adapters/kafka/index.js";
import { PartitionOffsets } from "../../../adapters/kafka/offsets.js";
import { LANE_BOUND } from "../../../adapters/kafka/window.js";
import type { KafkaChannelSpec } from "../../../adapters/kafka/spec.js";
import { gate, testEvent, testIds, testSubscription } from "../../support/adapter-fixtures.js";
import { eventually } from "../../support/eventually.js";
import { createKafkaAdapter, kafkaChannel, kafkaClient, publishOnce } from "./fixtures.js";

describe("Kafka partition offsets", () => {
  it("commits up to the lowest unfinished record, past all of them once every one finished", () => {
    const offsets = new PartitionOffsets();
    const taken = [10n, 11n, 12n, 13n].map((offset) => offsets.take(offset)!);
    assert.equal(offsets.toCommit(), 10n, "nothing finished: the group restarts at the first record");
    offsets.committedAt(10n);
    taken[1]!.done = true;
    taken[2]!.done = true;
    assert.equal(offsets.toCommit(), undefined, "record 10 still runs: the commit stays at 10");
    taken[0]!.done = true;
    assert.equal(offsets.toCommit(), 13n);
    offsets.committedAt(13n);
    taken[3]!.done = true;
    assert.equal(offsets.toCommit(), 14n);
  });

  it("skips records a fetch repeats after a rebalance, and takes the ones after them", () => {
    const offsets = new PartitionOffsets();
    offsets.take(5n);
    offsets.take(6n);
    assert.equal(offsets.take(5n), undefined);
    assert.equal(offsets.take(6n), undefined);
    assert.ok(offsets.take(7n));
  });
});

/** Committed offset of the subscription's group in each partition (-1: none). */
async function committed(group: string, topic: string): Promise<number[]> {
  const admin = kafkaClient().admin();
  await admin.connect();
  try {
    const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return (offsets?.partitions ?? []).map((partition) => Number(partition.offset));
  } finally {
    await admin.disconnect();
  }
}

describe("KafkaChannel delivery window on a real Kafka", () => {
  let adapter: ChannelAdapter<KafkaChannelSpec>;
  let channel: ChannelTarget<KafkaChannelSpec>;
  before(async () => {
    adapter = createKafkaAdapter();
    channel = kafkaChannel("window");
    await adapter.createChannel(channel);
  });
  after(async () => {
    await adapter.deleteChannel(channel).catch(() => undefined);
    await adapter.close();
  });

  it("unordered: an event held by its subscriber holds neither later events nor later batches, and is never committed past", async () => {
    const held = gate();
    const delivered: string[] = [];
    const subscription = testSubscription("slow-one", "unordered", 5);
    const handle = await adapter.subscribe(channel, subscription, async (event) => {
      const id = String(event.attributes.id);
      if (id === "w-0") await held.promise;
      delivered.push(id);
    });
    try {
      const ids = testIds("w", 60);
      // A first batch; the later ones are published once it was fetched and w-0 is held.
      await publishOnce(
        adapter,
        channel,
        ids.slice(0, 20).map((id) => testEvent(id)),
      );
      await eventually(() => delivered.length === 19, { timeoutMs: 30_000 });
      for (let index = 20; index < 60; index += 10)
        await publishOnce(
          adapter,
          channel,
          ids.slice(index, index + 10).map((id) => testEvent(id)),
        );
      await eventually(() => delivered.length === 59, { timeoutMs: 30_000 });
      assert.ok(!delivered.includes("w-0"), "w-0 is still held");
      const topic = topicName(channel);
      const group = groupId(channel, subscription);
      const start = (await committed(group, topic))[0]!;
      // Whatever was committed stays at w-0's offset while it runs (the topic's first record here).
      assert.ok(start <= 0, `committed ${start}, past the event still in flight`);
      held.open();
      await eventually(() => delivered.length === 60, { timeoutMs: 30_000 });
      await eventually(async () => (await committed(group, topic))[0] === 60, { timeoutMs: 30_000 });
    } finally {
      held.open();
      await handle.close();
    }
  });

  it("ordered: a partition whose subscriber holds an event holds only that partition", async () => {
    const twoPartitions = kafkaChannel("lanes", { numPartitions: 2 });
    await adapter.createChannel(twoPartitions);
    const held = gate();
    const delivered: string[] = [];
    const handle = await adapter.subscribe(
      twoPartitions,
      testSubscription("lanes", "ordered", 1),
      async (event) => {
        const id = String(event.attributes.id);
        if (id === "a-0") await held.promise;
        delivered.push(id);
      },
    );
    try {
      // kafkajs's default partitioner puts key-a in partition 0 and key-b in partition 1.
      const a = testIds("a", 5).map((id) => testEvent(id, { partitionkey: "key-a" }));
      const b = testIds("b", 5).map((id) => testEvent(id, { partitionkey: "key-b" }));
      await publishOnce(adapter, twoPartitions, [...a, ...b]);
      const admin = kafkaClient().admin();
      await admin.connect();
      const ends = await admin.fetchTopicOffsets(topicName(twoPartitions)).finally(() => admin.disconnect());
      assert.deepEqual(
        ends.map((partition) => Number(partition.high)),
        [5, 5],
        "one key per partition",
      );
      await eventually(() => delivered.length === 5, { timeoutMs: 30_000 });
      // Later records of b's partition come in later fetches: they do not wait for a-0 either.
      const more = testIds("b", 10).slice(5);
      await publishOnce(
        adapter,
        twoPartitions,
        more.map((id) => testEvent(id, { partitionkey: "key-b" })),
      );
      await eventually(() => delivered.length === 10, { timeoutMs: 30_000 });
      assert.deepEqual(delivered, testIds("b", 10), "b's partition went on while a-0 was held");
      held.open();
      await eventually(() => delivered.length === 15, { timeoutMs: 30_000 });
      assert.deepEqual(
        delivered.filter((id) => id.startsWith("a")),
        testIds("a", 5),
      );
      assert.deepEqual(
        delivered.filter((id) => id.startsWith("b")),
        testIds("b", 10),
      );
    } finally {
      held.open();
      await handle.close();
      await adapter.deleteChannel(twoPartitions).catch(() => undefined);
    }
  });

  it("ordered: a partition with more records than its lane holds pauses, resumes, and delivers every one in order", async () => {
    const held = gate();
    const started = gate();
    const delivered: string[] = [];
    const handle = await adapter.subscribe(
      channel,
      testSubscription("long-lane", "ordered", 1),
      async (event) => {
        const id = String(event.attributes.id);
        if (id === "l-0") {
          started.open();
          await held.promise;
        }
        delivered.push(id);
      },
    );
    try {
      const ids = testIds("l", LANE_BOUND * 3);
      await publishOnce(
        adapter,
        channel,
        ids.map((id) => testEvent(id)),
      );
      // One produce request, so one fetch: l-0 starts once the lane took LANE_BOUND of them and paused.
      await started.promise;
      held.open();
      await eventually(() => delivered.length >= ids.length, { timeoutMs: 60_000 });
      assert.deepEqual(delivered, ids);
    } finally {
      held.open();
      await handle.close();
    }
  });
});
