/**
 * Kafka's own tools as the ceiling of the kafka case, on the same broker, each on a fresh
 * 1-partition topic (the shape of a KafkaChannel's) with records of the bench event's body size:
 *
 * - `org.apache.kafka.tools.ProducerPerformance`: one producer, unthrottled, acks=all, idempotent,
 *   linger.ms=5, the default 16 KiB batches: the most this broker takes from one producer.
 * - `org.apache.kafka.tools.EndToEndLatency`: one message at a time, produced (acks=all) and
 *   consumed before the next: the broker's round trip with no queueing in front of it.
 *
 * The tools come from org.apache.kafka:kafka-tools 3.9.1 (bench/jvm/kafka-tools.pom.xml), the
 * version of the test broker.
 */
import { Kafka, logLevel } from "kafkajs";
import { runJava } from "./jvm.js";
import { parseEndToEndLatency, parseProducerPerformance } from "./jvm-output.js";
import { EVENT_BODY } from "./support.js";

export interface KafkaToolsOptions {
  /** ProducerPerformance --num-records. */
  records: number;
  /** EndToEndLatency num_messages. */
  latencyMessages: number;
}

export const RECORD_SIZE = Buffer.byteLength(EVENT_BODY);
export const PRODUCER_PROPS = ["acks=all", "enable.idempotence=true", "linger.ms=5", "batch.size=16384"];

async function withTopic<T>(bootstrap: string, run: (topic: string) => Promise<T>): Promise<T> {
  const admin = new Kafka({
    clientId: "herald-bench-tools",
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  const topic = `herald-bench-tools-${Date.now().toString(36)}`;
  try {
    await admin.createTopics({
      topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
      waitForLeaders: true,
    });
    return await run(topic);
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
}

export async function producerPerformance(bootstrap: string, records: number) {
  return withTopic(bootstrap, async (topic) => {
    const args = [
      "--topic",
      topic,
      "--num-records",
      String(records),
      "--record-size",
      String(RECORD_SIZE),
      "--throughput",
      "-1",
      "--producer-props",
      `bootstrap.servers=${bootstrap}`,
      ...PRODUCER_PROPS,
    ];
    const run = await runJava("kafka-tools", "org.apache.kafka.tools.ProducerPerformance", args, 600);
    return { command: run.command, ...parseProducerPerformance(run.stdout) };
  });
}

export async function endToEndLatency(bootstrap: string, messages: number) {
  return withTopic(bootstrap, async (topic) => {
    const args = [bootstrap, topic, String(messages), "all", String(RECORD_SIZE)];
    const run = await runJava("kafka-tools", "org.apache.kafka.tools.EndToEndLatency", args, 600);
    return {
      command: run.command,
      messages,
      ...parseEndToEndLatency(run.stdout),
    };
  });
}

/** Both tools, one after the other, on the broker at `bootstrap`. */
export async function kafkaCeiling(bootstrap: string, options: KafkaToolsOptions) {
  return {
    producerPerformance: await producerPerformance(bootstrap, options.records),
    endToEndLatency: await endToEndLatency(bootstrap, options.latencyMessages),
  };
}
