/**
 * Kafka case, in BENCH_RUNS rounds (default 3), each on the same broker:
 *
 * - Kafka's own tools, the ceiling (bench/kafka-tools.ts): ProducerPerformance unthrottled and
 *   EndToEndLatency one message at a time, each on a fresh 1-partition topic.
 * - the raw kafkajs producer (idempotent, acks=all, the settings Herald uses, one event per send).
 * - Herald ingress into a KafkaChannel, then Herald end to end to one subscriber (bench/backend.ts).
 *
 * Herald's ingress and end-to-end rates are reported as a fraction of ProducerPerformance's.
 * BENCH_KAFKA_RECORDS (500 000) and BENCH_KAFKA_LATENCY_MESSAGES (5 000) size the tools' runs.
 * Uses the Kafka at KAFKA_BOOTSTRAP_SERVERS (or 127.0.0.1:9092) when one answers, otherwise starts
 * one from the Maven-fetched jars for the run.
 */
import { Kafka, logLevel } from "kafkajs";
import { isKafkaReady, startKafka, type KafkaBroker } from "../test/support/kafka/broker.js";
import { backendFigures, backendMethod, benchBackend, type RawPublisher } from "./backend.js";
import { kafkaCeiling, PRODUCER_PROPS, RECORD_SIZE } from "./kafka-tools.js";
import { inRounds, medianRatio, summariseRounds } from "./rounds.js";
import { EVENT_BODY } from "./support.js";

export async function benchKafka(options: {
  durationSeconds: number;
  connections: number;
  workers?: number | undefined;
  runs: number;
}) {
  const configured = process.env.KAFKA_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092";
  let broker: KafkaBroker | undefined;
  if (!(await isKafkaReady(configured))) broker = await startKafka(Number(configured.split(":").pop()));
  const bootstrap = broker?.bootstrap ?? configured;
  const tools = {
    records: Number(process.env.BENCH_KAFKA_RECORDS ?? 500_000),
    latencyMessages: Number(process.env.BENCH_KAFKA_LATENCY_MESSAGES ?? 5_000),
  };
  try {
    const rounds = await inRounds(options.runs, "kafka", async () => ({
      ceiling: await kafkaCeiling(bootstrap, tools),
      ...(await benchBackend({
        ...options,
        env: { HERALD_KAFKA_BOOTSTRAP_SERVERS: bootstrap },
        channelTemplate: "    apiVersion: messaging.knative.dev/v1beta1\n    kind: KafkaChannel\n",
        raw: () => rawKafka(bootstrap),
      })),
    }));
    const summary = summariseRounds(rounds, {
      producerPerformancePerSecond: (round) => round.ceiling.producerPerformance.recordsPerSecond,
      producerPerformanceP99Ms: (round) => round.ceiling.producerPerformance.latencyP99Ms,
      endToEndLatencyP50Ms: (round) => round.ceiling.endToEndLatency.latencyP50Ms,
      endToEndLatencyP99Ms: (round) => round.ceiling.endToEndLatency.latencyP99Ms,
      ...backendFigures,
    });
    return {
      method: {
        ...backendMethod(options),
        recordSize: RECORD_SIZE,
        producerPerformance: { ...tools, producerProps: PRODUCER_PROPS, throughput: -1, partitions: 1 },
        endToEndLatency: { messages: tools.latencyMessages, acks: "all", partitions: 1 },
      },
      summary,
      ratios: {
        heraldIngressVsProducerPerformance: medianRatio(
          summary.heraldIngressPerSecond,
          summary.producerPerformancePerSecond,
        ),
        heraldEndToEndVsProducerPerformance: medianRatio(
          summary.heraldEndToEndPerSecond,
          summary.producerPerformancePerSecond,
        ),
        heraldIngressVsRawClient: medianRatio(summary.heraldIngressPerSecond, summary.rawClientPerSecond),
      },
      rounds,
    };
  } finally {
    await broker?.destroy();
  }
}

/** The raw kafkajs producer: the same topic shape as the ingress case's channel (KafkaChannel's defaults). */
async function rawKafka(bootstrap: string): Promise<RawPublisher> {
  const kafka = new Kafka({ clientId: "raw-bench", brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const topic = `raw-bench-${Date.now()}`;
  await admin.createTopics({
    topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
    waitForLeaders: true,
  });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const value = Buffer.from(EVENT_BODY);
  return {
    publish: async (id) => {
      await producer.send({
        topic,
        acks: -1,
        messages: [
          {
            value,
            headers: {
              "content-type": "application/json",
              ce_specversion: "1.0",
              ce_id: id,
              ce_type: "dev.herald.bench",
              ce_source: "/bench",
            },
          },
        ],
      });
    },
    close: async () => {
      await producer.disconnect();
      await admin.deleteTopics({ topics: [topic] });
      await admin.disconnect();
    },
  };
}
