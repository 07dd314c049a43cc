/**
 * Kafka case: Herald ingress into a KafkaChannel vs the raw kafkajs producer (idempotent, acks=all,
 * the same settings Herald uses) sending the same events to the same broker, then end to end.
 * Uses the Kafka at KAFKA_BOOTSTRAP_SERVERS (or 127.0.0.1:9092) when one answers, otherwise starts
 * one from the Maven-fetched jars for the run.
 */
import { Kafka, logLevel } from "kafkajs";
import { isKafkaReady, startKafka, type KafkaBroker } from "../test/support/kafka/broker.js";
import { benchBackend } from "./backend.js";
import { EVENT_BODY } from "./support.js";

export async function benchKafka(options: { durationSeconds: number; connections: number }) {
  const configured = process.env.KAFKA_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092";
  let broker: KafkaBroker | undefined;
  if (!(await isKafkaReady(configured))) broker = await startKafka(Number(configured.split(":").pop()));
  const bootstrap = broker?.bootstrap ?? configured;
  try {
    return await benchBackend({
      ...options,
      env: { HERALD_KAFKA_BOOTSTRAP_SERVERS: bootstrap },
      channelTemplate: "    apiVersion: messaging.knative.dev/v1beta1\n    kind: KafkaChannel\n",
      raw: async () => {
        const kafka = new Kafka({ clientId: "raw-bench", brokers: [bootstrap], logLevel: logLevel.NOTHING });
        const admin = kafka.admin();
        await admin.connect();
        // The same topic shape as the ingress case's channel: KafkaChannel's defaults.
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
      },
    });
  } finally {
    await broker?.destroy();
  }
}
