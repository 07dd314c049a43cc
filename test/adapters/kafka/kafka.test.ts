// needs: kafka
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ChannelAdapter, ChannelTarget } from "../../../adapters/adapter.js";
import { fromKafkaMessage, toKafkaMessage } from "../../../adapters/kafka/binding.js";
import { kafkaConfig } from "../../../adapters/kafka/config.js";
import { topicName } from "../../../adapters/kafka/index.js";
import { kafkaChannelSpecSchema, type KafkaChannelSpec } from "../../../adapters/kafka/spec.js";
import { HeraldError } from "../../../src/errors.js";
import { testEvent, testIds, testSubscription } from "../../support/adapter-fixtures.js";
import { eventually } from "../../support/eventually.js";
import { describeChannelAdapter } from "../conformance.js";
import { createKafkaAdapter, kafkaChannel, kafkaClient, publishOnce } from "./fixtures.js";

const event = testEvent;
const subscription = testSubscription;

describeChannelAdapter<KafkaChannelSpec>(
  "KafkaChannel",
  {
    create: () => createKafkaAdapter(),
    // Two instances share a subscription's group only with more partitions than one.
    channelSpec: () => kafkaChannelSpecSchema.parse({ numPartitions: 3 }),
    unreachable: ({ host, port }) => createKafkaAdapter({ bootstrapServers: `${host}:${port}` }),
  },
  {
    durable: true,
    sharedAcrossInstances: true,
    orderedScope: "partition",
    replay: { from: ["beginning", "time", "offset"] },
    undecodable: async (channel, body) => {
      const producer = kafkaClient().producer();
      await producer.connect();
      try {
        await producer.send({ topic: topicName(channel), messages: [{ value: body }] });
      } finally {
        await producer.disconnect();
      }
    },
  },
  // The replay tests (each joins the consumer group again) run from replay.test.ts.
  "core",
);

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
    const reason = fromKafkaMessage({ value: Buffer.from("x"), headers: {} } as never);
    assert.ok(typeof reason === "string");
    assert.match(reason, /ce_specversion/);
  });
});

describe("Kafka configuration slice", () => {
  it("defaults every setting", () => {
    assert.deepEqual(kafkaConfig.schema.parse({}), {
      bootstrapServers: ["127.0.0.1:9092"],
      clientId: "herald",
      ssl: false,
      keepTopicsOnDelete: false,
      bootstrapAliases: {},
    });
  });

  it("reads a comma-separated server list and boolean strings, as environment variables give them", () => {
    const settings = kafkaConfig.schema.parse({
      bootstrapServers: "a:9092, b:9092",
      ssl: "true",
      keepTopicsOnDelete: "0",
    });
    assert.deepEqual(settings.bootstrapServers, ["a:9092", "b:9092"]);
    assert.equal(settings.ssl, true);
    assert.equal(settings.keepTopicsOnDelete, false);
  });

  it("builds SASL credentials from three variables and marks them secret", () => {
    assert.equal(kafkaConfig.fromEnvironment?.({}), undefined);
    assert.deepEqual(
      kafkaConfig.fromEnvironment?.({ HERALD_KAFKA_SASL_USERNAME: "u", HERALD_KAFKA_SASL_PASSWORD: "p" }),
      { sasl: { mechanism: "plain", username: "u", password: "p" } },
    );
    assert.deepEqual(kafkaConfig.secretPaths, ["sasl"]);
    assert.equal(kafkaConfig.variables.HERALD_KAFKA_BOOTSTRAP_SERVERS, "bootstrapServers");
  });
});

describe("KafkaChannel adapter on a real Kafka", () => {
  let adapter: ChannelAdapter<KafkaChannelSpec>;
  let channel: ChannelTarget<KafkaChannelSpec>;
  before(async () => {
    adapter = createKafkaAdapter();
    channel = kafkaChannel("test", { numPartitions: 3 });
    assert.equal((await adapter.createChannel(channel)).topic, topicName(channel));
  });
  after(async () => {
    await adapter.deleteChannel(channel).catch(() => undefined);
    await adapter.close();
  });

  it("creates the topic with the channel's partitions and retention, and deletes it with the channel", async () => {
    const target = kafkaChannel("topic", { numPartitions: 2, retentionDuration: "PT1H" });
    assert.deepEqual(await adapter.createChannel(target), { topic: topicName(target), partitions: 2 });
    const admin = kafkaClient().admin();
    await admin.connect();
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: [topicName(target)] });
      assert.equal(metadata.topics[0]!.partitions.length, 2);
      const configs = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: 2, name: topicName(target), configNames: ["retention.ms"] }],
      });
      assert.equal(configs.resources[0]!.configEntries[0]!.configValue, "3600000");
      await adapter.createChannel(target);
      await adapter.deleteChannel(target);
      assert.ok(!(await admin.listTopics()).includes(topicName(target)), "gone once deleteChannel resolved");
      await adapter.deleteChannel(target);
    } finally {
      await admin.disconnect();
    }
  });

  it("acknowledges concurrent (group-committed) publishes in the order they were made", async () => {
    const calls: string[] = [];
    const handle = await adapter.subscribe(channel, subscription("grouped", "ordered", 1), async (e) => {
      calls.push(String(e.attributes.id));
    });
    const ids = testIds("g", 200);
    // Concurrent, not awaited one by one: each call resolves once Kafka acknowledged its event.
    await Promise.all(
      ids.map((id) => publishOnce(adapter, channel, [event(id, { partitionkey: "one-key" })])),
    );
    await eventually(() => calls.length >= 200, { timeoutMs: 30_000 });
    assert.deepEqual(calls.slice(0, 200), ids);
    await handle.close();
  });

  it("does not write a batch whose deadline passed before it was sent", async () => {
    const calls: string[] = [];
    const handle = await adapter.subscribe(channel, subscription("withdrawn", "ordered", 1), async (e) => {
      calls.push(String(e.attributes.id));
    });
    const late = adapter.publish(channel, [event("late", { partitionkey: "w" })], {
      signal: AbortSignal.abort(),
    });
    await assert.rejects(
      late,
      (error: unknown) => error instanceof HeraldError && error.code === "BackendUnavailable",
    );
    await publishOnce(adapter, channel, [event("marker", { partitionkey: "w" })]);
    await eventually(() => calls.includes("marker"), { timeoutMs: 30_000 });
    assert.deepEqual(calls, ["marker"]);
    await handle.close();
  });
});

describe("KafkaChannel adapter whose bootstrap server refuses connections", () => {
  it("rejects publish with BackendUnavailable by the deadline and answers not ready", async () => {
    const refused = createKafkaAdapter({ bootstrapServers: "127.0.0.1:1" });
    try {
      const startedAt = Date.now();
      await assert.rejects(
        refused.publish(kafkaChannel("refused"), [event("r1")], { signal: AbortSignal.timeout(1_000) }),
        (error: unknown) => error instanceof HeraldError && error.code === "BackendUnavailable",
      );
      assert.ok(Date.now() - startedAt < 2_000, `rejected after ${Date.now() - startedAt} ms`);
      assert.equal(await refused.isReady(), false);
    } finally {
      await refused.close();
    }
  });
});
