import { randomUUID } from "node:crypto";
import { Kafka, logLevel } from "kafkajs";
import { pino } from "pino";
import type { ChannelAdapter, ChannelTarget } from "../../../adapters/adapter.js";
import { kafkaConfig } from "../../../adapters/kafka/config.js";
import { kafkaChannelPlugin } from "../../../adapters/kafka/index.js";
import { kafkaChannelSpecSchema, type KafkaChannelSpec } from "../../../adapters/kafka/spec.js";
import type { CloudEvent } from "../../../src/events/event.js";
import { uniqueName } from "../../support/adapter-fixtures.js";

export const bootstrap = process.env.KAFKA_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092";

/** A Kafka adapter as Herald creates it, from the `kafka` configuration slice. */
export function createKafkaAdapter(settings: Record<string, unknown> = {}): ChannelAdapter<KafkaChannelSpec> {
  return kafkaChannelPlugin.create({
    config: kafkaConfig.schema.parse({ bootstrapServers: bootstrap, ...settings }),
    logger: pino({ level: "silent" }),
  });
}

/** A KafkaChannel with a fresh name and its spec parsed and defaulted, as apply hands it over. */
export function kafkaChannel(
  prefix: string,
  spec: Record<string, unknown> = {},
): ChannelTarget<KafkaChannelSpec> {
  return {
    namespace: "default",
    name: uniqueName(prefix),
    uid: randomUUID(),
    spec: kafkaChannelSpecSchema.parse(spec),
  };
}

/** One publish with ingress's deadline: no retry hides a publish that Kafka refused. */
export async function publishOnce(
  adapter: ChannelAdapter<KafkaChannelSpec>,
  channel: ChannelTarget<KafkaChannelSpec>,
  events: readonly CloudEvent[],
): Promise<void> {
  await adapter.publish(channel, events, { signal: AbortSignal.timeout(5_000) });
}

/** A plain kafkajs client, for what Herald does not do itself (reading metadata, foreign records). */
export function kafkaClient(): Kafka {
  return new Kafka({ clientId: "herald-test", brokers: [bootstrap], logLevel: logLevel.NOTHING });
}
