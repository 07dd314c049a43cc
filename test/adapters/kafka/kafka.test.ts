// needs: kafka
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Kafka, logLevel } from "kafkajs";
import { pino } from "pino";
import type { ChannelAdapter, ChannelTarget, DeliveryContext } from "../../../adapters/adapter.js";
import { fromKafkaMessage, toKafkaMessage } from "../../../adapters/kafka/binding.js";
import { kafkaChannelAdapter, topicName } from "../../../adapters/kafka/index.js";
import { loadConfig } from "../../../src/config.js";
import type { CloudEvent } from "../../../src/events/event.js";
import { testEvent, testSubscription } from "../../support/adapter-fixtures.js";
import { eventually } from "../../support/eventually.js";

const bootstrap = process.env.KAFKA_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092";
const event = testEvent;
const subscription = testSubscription;
const admin = () =>
  new Kafka({ clientId: "herald-test", brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();

describe("Kafka binding", () => {
  it("round-trips binary mode, with partitionkey as the record key", () => {
    const original = event("1", { partitionkey: "customer-7", subject: "a b" });
    const message = toKafkaMessage(original);
    assert.equal(message.key, "customer-7");
    assert.equal((message.headers as Record<string, string>)["content-type"], "application/json");
    const decoded = fromKafkaMessage({
      ...message,
      headers: Object.fromEntries(
        Object.entries(message.headers!).map(([k, v]) => [k, Buffer.from(String(v))]),
      ),
    } as never);
    assert.deepEqual(decoded, original);
  });

  it("explains why a record is not a CloudEvent", () => {
    assert.match(
      String(fromKafkaMessage({ value: Buffer.from("x"), headers: {} } as never)),
      /ce_specversion/,
    );
  });
});

describe("KafkaChannel adapter on a real Kafka", () => {
  let adapter: ChannelAdapter;
  let channel: ChannelTarget;
  before(async () => {
    adapter = kafkaChannelAdapter.create({
      config: loadConfig({ kafka: { bootstrapServers: bootstrap } }, {}),
      logger: pino({ level: "silent" }),
    });
    channel = {
      namespace: "default",
      name: `test-${randomUUID().slice(0, 8)}`,
      uid: randomUUID(),
      spec: { numPartitions: 3 },
    };
    assert.equal((await adapter.createChannel(channel)).topic, topicName(channel));
  });
  after(async () => {
    await adapter.deleteChannel(channel).catch(() => undefined);
    await adapter.close();
  });

  it("creates the topic with the channel's partitions and deletes it with the channel", async () => {
    const target = {
      namespace: "default",
      name: `topic-${randomUUID().slice(0, 8)}`,
      uid: randomUUID(),
      spec: { numPartitions: 2, retentionDuration: "PT1H" },
    };
    await adapter.createChannel(target);
    const kafka = admin();
    await kafka.connect();
    try {
      const metadata = await kafka.fetchTopicMetadata({ topics: [topicName(target)] });
      assert.equal(metadata.topics[0]!.partitions.length, 2);
      await adapter.deleteChannel(target);
      await eventually(async () => !(await kafka.listTopics()).includes(topicName(target)));
    } finally {
      await kafka.disconnect();
    }
  });

  it("fans out every event to every subscription", async () => {
    const seen: Record<string, string[]> = { a: [], b: [] };
    const handles = await Promise.all(
      ["a", "b"].map((name) =>
        adapter.subscribe(
          channel,
          subscription(`fan-${name}`),
          async (e) => void seen[name]!.push(String(e.attributes.id)),
        ),
      ),
    );
    await adapter.publish(
      channel,
      ["1", "2", "3", "4"].map((id) => event(id, { partitionkey: id })),
    );
    await eventually(() => seen.a!.length === 4 && seen.b!.length === 4, { timeoutMs: 30_000 });
    assert.deepEqual(seen.a!.sort(), ["1", "2", "3", "4"]);
    await Promise.all(handles.map((h) => h.close()));
  });

  it("acknowledges concurrent (group-committed) publishes in the order they were made", async () => {
    const calls: string[] = [];
    const handle = await adapter.subscribe(channel, subscription("grouped", "ordered", 1), async (e) => {
      calls.push(String(e.attributes.id));
    });
    const ids = Array.from({ length: 200 }, (_, i) => `g${i}`);
    // Concurrent, not awaited one by one: each call resolves once Kafka acknowledged its event.
    await Promise.all(ids.map((id) => adapter.publish(channel, [event(id, { partitionkey: "one-key" })])));
    await eventually(() => calls.length >= 200, { timeoutMs: 30_000 });
    assert.deepEqual(calls.slice(0, 200), ids);
    await handle.close();
  });

  it("keeps per-partition order in ordered mode while the handler rejects some attempts", async () => {
    const calls: string[] = [];
    let failures = 2;
    const handle = await adapter.subscribe(channel, subscription("ordered", "ordered", 1), async (e) => {
      calls.push(String(e.attributes.id));
      if (e.attributes.id === "o2" && failures-- > 0) throw new Error("not yet");
    });
    await adapter.publish(
      channel,
      ["o1", "o2", "o3", "o4"].map((id) => event(id, { partitionkey: "same-key" })),
    );
    await eventually(() => calls.includes("o4"), { timeoutMs: 30_000 });
    assert.deepEqual(calls, ["o1", "o2", "o2", "o2", "o3", "o4"]);
    await handle.close();
  });

  it("runs handlers concurrently in unordered mode, bounded by maxInFlight", async () => {
    let inFlight = 0;
    let peak = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const handle = await adapter.subscribe(channel, subscription("concurrent", "unordered", 3), async () => {
      peak = Math.max(peak, ++inFlight);
      await gate;
      inFlight--;
    });
    await adapter.publish(
      channel,
      Array.from({ length: 8 }, (_, i) => event(`c${i}`, { partitionkey: "one-partition" })),
    );
    await eventually(() => inFlight === 3, { timeoutMs: 30_000 });
    release();
    await eventually(() => inFlight === 0);
    assert.equal(peak, 3);
    await handle.close();
  });

  it("redelivers what was not acknowledged to the next consumer of the subscription", async () => {
    const target = subscription("resume", "ordered", 1);
    const first: string[] = [];
    let block = true;
    const handle = await adapter.subscribe(channel, target, async (e) => {
      first.push(String(e.attributes.id));
      if (block && e.attributes.id === "r2") throw new Error("shutting down");
    });
    await adapter.publish(
      channel,
      ["r1", "r2", "r3"].map((id) => event(id, { partitionkey: "resume" })),
    );
    await eventually(() => first.includes("r2"), { timeoutMs: 30_000 });
    await handle.close();
    block = false;
    const second: string[] = [];
    const again = await adapter.subscribe(
      channel,
      target,
      async (e) => void second.push(String(e.attributes.id)),
    );
    await eventually(() => second.includes("r3"), { timeoutMs: 30_000 });
    assert.equal(second[0], "r2", `resumed from the unacknowledged event: ${second.join(",")}`);
    assert.ok(!second.includes("r1"), "r1 was acknowledged and is not redelivered");
    await again.close();
  });

  it("hands a record that is not a CloudEvent over as undecodable", async () => {
    const received: { event: CloudEvent; context: DeliveryContext }[] = [];
    const handle = await adapter.subscribe(
      channel,
      subscription("undecodable"),
      async (e, context) => void received.push({ event: e, context }),
    );
    const producer = new Kafka({
      clientId: "herald-test",
      brokers: [bootstrap],
      logLevel: logLevel.NOTHING,
    }).producer();
    await producer.connect();
    await producer.send({ topic: topicName(channel), messages: [{ value: "plain text" }] });
    await producer.disconnect();
    const got = await eventually(() => received.find((r) => r.context.undecodable), { timeoutMs: 30_000 });
    assert.match(String(got.context.undecodable), /not a CloudEvent/);
    assert.equal(got.event.data?.toString(), "plain text");
    await handle.close();
  });
});
