import {
  Kafka,
  logLevel,
  type Consumer,
  type KafkaConfig,
  type KafkaMessage,
  type SASLOptions,
} from "kafkajs";
import { z } from "zod";
import { aliasedServers, aliasHint } from "../../adapters/kafka/aliases.js";
import { fromKafkaMessage } from "../../adapters/kafka/binding.js";
import { kafkaConfig } from "../../adapters/kafka/config.js";
import type { AttributeValue, CloudEvent } from "../../src/events/event.js";
import { deliverySpecSchema } from "../../src/resources/common.js";
import { secretKeySelectorSchema, sourceUri, type SourceContext, type SourceFactory } from "../source.js";
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
 *
 * `net` is Knative's KafkaNetSpec: `tls` (the client certificate, key and CA from Secrets, mapped to
 * kafkajs' `ssl`) and `sasl` (user, password and mechanism PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
 * from Secrets, mapped to kafkajs' `sasl`). `delivery` is Knative's DeliverySpec, applied by the
 * runtime: retries, backoff, then the dead-letter sink, after which the offset is committed.
 */
const secretValueSchema = secretKeySelectorSchema.partial();
const netSchema = z.object({
  sasl: z
    .object({
      enable: z.boolean().default(false),
      user: secretValueSchema.optional(),
      password: secretValueSchema.optional(),
      type: secretValueSchema.optional(),
    })
    .optional(),
  tls: z
    .object({
      enable: z.boolean().default(false),
      cert: secretValueSchema.optional(),
      key: secretValueSchema.optional(),
      caCert: secretValueSchema.optional(),
    })
    .optional(),
});
export type KafkaNetSpec = z.output<typeof netSchema>;

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
  /**
   * Knative's number of consumers: Herald's one consumer delivers from that many partitions at once,
   * each partition still in order.
   */
  consumers: z.number().int().min(1, "must be >= 1").max(1000, "must be <= 1000").optional(),
  net: netSchema.optional(),
  delivery: deliverySpecSchema.optional(),
});

export const KAFKA_EVENT_TYPE = "dev.knative.kafka.event";

const SASL_MECHANISMS = {
  PLAIN: "plain",
  "SCRAM-SHA-256": "scram-sha-256",
  "SCRAM-SHA-512": "scram-sha-512",
} as const;

/**
 * kafkajs' `ssl` and `sasl` options for Knative's `spec.net`, reading the Secrets it references.
 * Throws naming the field when a Secret, a key or the SASL mechanism is wrong.
 */
export function kafkaNetOptions(
  net: KafkaNetSpec | undefined,
  secret: SourceContext["secret"],
): Pick<KafkaConfig, "ssl" | "sasl"> {
  const read = (field: string, value: z.output<typeof secretValueSchema> | undefined) => {
    const ref = value?.secretKeyRef;
    if (!ref) return undefined;
    try {
      return secret(ref);
    } catch (error) {
      throw new Error(`spec.net.${field}: ${(error as Error).message}`, { cause: error });
    }
  };
  const options: Pick<KafkaConfig, "ssl" | "sasl"> = {};
  if (net?.tls?.enable) {
    const ca = read("tls.caCert", net.tls.caCert);
    const cert = read("tls.cert", net.tls.cert);
    const key = read("tls.key", net.tls.key);
    options.ssl = ca || cert || key ? { ca, cert, key } : true;
  }
  if (net?.sasl?.enable) {
    const type = (read("sasl.type", net.sasl.type) ?? "PLAIN").trim().toUpperCase();
    const mechanism = SASL_MECHANISMS[type as keyof typeof SASL_MECHANISMS];
    if (!mechanism)
      throw new Error(`spec.net.sasl.type: ${type} is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`);
    const username = read("sasl.user", net.sasl.user);
    const password = read("sasl.password", net.sasl.password);
    if (username === undefined || password === undefined)
      throw new Error("spec.net.sasl: user and password are required when sasl.enable is true");
    options.sasl = { mechanism, username, password } as SASLOptions;
  }
  return options;
}
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
  // For the bootstrap aliases (HERALD_KAFKA_BOOTSTRAP_ALIASES) only: the source has its own servers.
  config: [kafkaConfig],
  ceAttributes: (spec, resource) =>
    spec.topics.map((topic) => ({
      type: KAFKA_EVENT_TYPE,
      source: `${sourceUri("kafkasources", resource)}#${topic}`,
    })),
  async start(spec, context) {
    const aliases = context.configOf(kafkaConfig).bootstrapAliases;
    const kafka = new Kafka({
      clientId: `herald-kafkasource-${context.resource.name}`,
      brokers: aliasedServers(spec.bootstrapServers, aliases),
      logLevel: logLevel.NOTHING,
      connectionTimeout: 3_000,
      retry: { retries: 5, initialRetryTime: 300, maxRetryTime: 5_000 },
      ...kafkaNetOptions(spec.net, (ref) => context.secret(ref)),
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
          partitionsConsumedConcurrently: spec.consumers ?? 1,
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
        const { message, type } = error as Error & { type?: string };
        if (type === "UNKNOWN_TOPIC_OR_PARTITION")
          context.setCondition(
            "Connected",
            "False",
            "TopicNotPresent",
            `spec.topics: ${spec.topics.join(", ")} must exist on ${spec.bootstrapServers.join(",")}, and one does not ` +
              "(Kafka answered: " +
              `${message}): create it, as Knative's docs do with a KafkaTopic, or let the Kafka broker create topics ` +
              "(auto.create.topics.enable); the source retries until it exists",
          );
        else {
          const hint = /ENOTFOUND|EAI_AGAIN/.test(message) ? aliasHint(spec.bootstrapServers, aliases) : "";
          context.setCondition("Connected", "False", "ConnectionFailed", `${message}${hint}`);
        }
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
