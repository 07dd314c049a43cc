import { Kafka, logLevel, type Consumer, type KafkaMessage } from "kafkajs";
import { z } from "zod";
import { fromKafkaMessage } from "../../adapters/kafka/binding.js";
import type { AttributeValue, CloudEvent } from "../../src/events/event.js";
import { sourceUri, type SourceFactory } from "../source.js";
import { Reconnector } from "../support.js";

/**
 * sources.knative.dev/v1beta1 KafkaSource. One kafkajs consumer in `consumerGroup` reads `topics`;
 * partitions are consumed in order and an offset is committed only after the sink accepted the
 * record's event, so a sink that is down holds the source back without losing anything.
 *
 * A record that already is a CloudEvent (Kafka binding, binary or structured mode) is forwarded as
 * it is. Any other record becomes an event as Knative's KafkaSource makes it: type
 * `dev.knative.kafka.event`, source `/apis/v1/namespaces/{ns}/kafkasources/{name}#{topic}`, subject
 * `partition:{p}#{offset}`, id `partition:{p}/offset:{offset}`, the record time, the record key as
 * the `key` extension and the record headers as `kafkaheader{name}` extensions.
 */
const specSchema = z.object({
  bootstrapServers: z
    .array(z.string().regex(/^[^\s:]+:\d+$/, "must be host:port"))
    .min(1, "must list at least one broker"),
  topics: z
    .array(z.string().regex(/^[A-Za-z0-9._-]+$/, "must be a Kafka topic name"))
    .min(1, "must list at least one topic"),
  consumerGroup: z.string().min(1, "must not be empty").optional(),
  initialOffset: z
    .enum(["earliest", "latest"], { error: 'must be "earliest" or "latest"' })
    .default("latest"),
  consumers: z.number().int().min(1).optional(),
});

export const KAFKA_EVENT_TYPE = "dev.knative.kafka.event";
const HEARTBEAT_MS = 3_000;

/** Knative's extension name for a record header: `kafkaheader` + the name's letters and digits, lower-case. */
function headerExtension(name: string): string {
  return `kafkaheader${name.toLowerCase().replace(/[^a-z0-9]/g, "")}`;
}

export function recordToEvent(
  message: KafkaMessage,
  topic: string,
  partition: number,
  resource: { namespace: string; name: string },
): CloudEvent {
  const decoded = fromKafkaMessage(message);
  if (typeof decoded !== "string") return decoded;
  const attributes: Record<string, AttributeValue> = {
    specversion: "1.0",
    id: `partition:${partition}/offset:${message.offset}`,
    type: KAFKA_EVENT_TYPE,
    source: `${sourceUri("kafkasources", resource)}#${topic}`,
    subject: `partition:${partition}#${message.offset}`,
    time: new Date(Number(message.timestamp)).toISOString(),
  };
  if (message.key) attributes.key = message.key.toString("utf8");
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first === undefined) continue;
    if (name.toLowerCase() === "content-type") attributes.datacontenttype = first.toString();
    else attributes[headerExtension(name)] = first.toString();
  }
  return { attributes, data: message.value && message.value.length > 0 ? message.value : undefined };
}

export const kafkaSource: SourceFactory<typeof specSchema> = {
  group: "sources.knative.dev",
  versions: ["v1beta1", "v1"],
  kind: "KafkaSource",
  plural: "kafkasources",
  shortNames: ["kafkasource"],
  specSchema,
  ceAttributes: (spec, resource) =>
    spec.topics.map((topic) => ({
      type: KAFKA_EVENT_TYPE,
      source: `${sourceUri("kafkasources", resource)}#${topic}`,
    })),
  async start(spec, context) {
    const kafka = new Kafka({
      clientId: `herald-kafkasource-${context.resource.name}`,
      brokers: spec.bootstrapServers,
      logLevel: logLevel.NOTHING,
      connectionTimeout: 3_000,
      retry: { retries: 5, initialRetryTime: 300, maxRetryTime: 5_000 },
    });
    const groupId = spec.consumerGroup ?? `knative-kafka-source-${context.resource.uid}`;
    let consumer: Consumer | undefined;
    const reconnector = new Reconnector(async () => {
      if (reconnector.stopped) return;
      const attempt = kafka.consumer({ groupId, retry: { retries: 5 } });
      consumer = attempt;
      attempt.on(attempt.events.GROUP_JOIN, () => {
        reconnector.succeeded();
        context.setCondition("Connected", "True");
      });
      attempt.on(attempt.events.CRASH, (event) => {
        const { error, restart } = event.payload as { error: Error; restart: boolean };
        context.setCondition("Connected", "False", "ConsumerCrashed", error.message);
        if (!restart) retry(attempt);
      });
      try {
        await attempt.connect();
        for (const topic of spec.topics) {
          await attempt.subscribe({ topic, fromBeginning: spec.initialOffset === "earliest" });
        }
        await attempt.run({
          autoCommit: true,
          eachMessage: async (payload) => {
            const { topic, partition, message } = payload;
            const event = recordToEvent(message, topic, partition, context.resource);
            const beat = setInterval(() => void payload.heartbeat().catch(() => undefined), HEARTBEAT_MS);
            try {
              // Resolves only once the sink accepted: only then may the offset be committed.
              await context.send(event);
            } finally {
              clearInterval(beat);
            }
          },
        });
      } catch (error) {
        context.setCondition("Connected", "False", "ConnectionFailed", (error as Error).message);
        retry(attempt);
      }
    });
    const retry = (failed: Consumer) => {
      if (reconnector.stopped || consumer !== failed) return;
      void failed.disconnect().catch(() => undefined);
      reconnector.retry();
    };
    context.setCondition("Connected", "Unknown", "Connecting");
    reconnector.start();
    return {
      async stop() {
        reconnector.stop();
        await consumer?.disconnect().catch(() => undefined);
      },
    };
  },
};
