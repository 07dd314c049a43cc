import { logLevel, type KafkaConfig, type SASLOptions } from "kafkajs";
import { z } from "zod";
import { booleanish, commaList, type ConfigSlice } from "../../src/config-slice.js";
import { bootstrapAliasesSchema } from "./aliases.js";

const kafkaSettingsSchema = z.object({
  bootstrapServers: commaList.default(["127.0.0.1:9092"]),
  clientId: z.string().default("herald"),
  ssl: booleanish.default(false),
  /** Credentials; never logged (see `secretPaths`). */
  sasl: z
    .object({
      mechanism: z.enum(["plain", "scram-sha-256", "scram-sha-512"]),
      username: z.string(),
      password: z.string(),
    })
    .optional(),
  /** Keep topics when a KafkaChannel is deleted. */
  keepTopicsOnDelete: booleanish.default(false),
  /** Kafka addresses manifests name, mapped to this Kafka (see aliases.ts). */
  bootstrapAliases: bootstrapAliasesSchema.default({}),
});

export type KafkaSettings = z.output<typeof kafkaSettingsSchema>;

/** The `kafka` part of Herald's configuration. */
export const kafkaConfig: ConfigSlice<KafkaSettings> = {
  key: "kafka",
  schema: kafkaSettingsSchema,
  variables: {
    HERALD_KAFKA_BOOTSTRAP_SERVERS: "bootstrapServers",
    HERALD_KAFKA_CLIENT_ID: "clientId",
    HERALD_KAFKA_SSL: "ssl",
    HERALD_KAFKA_KEEP_TOPICS: "keepTopicsOnDelete",
    HERALD_KAFKA_BOOTSTRAP_ALIASES: "bootstrapAliases",
  },
  fromEnvironment(env) {
    if (!env.HERALD_KAFKA_SASL_USERNAME) return undefined;
    return {
      sasl: {
        mechanism: env.HERALD_KAFKA_SASL_MECHANISM ?? "plain",
        username: env.HERALD_KAFKA_SASL_USERNAME,
        password: env.HERALD_KAFKA_SASL_PASSWORD,
      },
    };
  },
  secretPaths: ["sasl"],
};

/**
 * The kafkajs client settings. `retries` is per request: few for the producer and admin (ingress
 * must answer 503 quickly when Kafka is down), more for consumers, which restart by themselves.
 */
export function clientConfig(settings: KafkaSettings, retries: number): KafkaConfig {
  return {
    clientId: settings.clientId,
    brokers: settings.bootstrapServers,
    ssl: settings.ssl,
    ...(settings.sasl ? { sasl: saslOptions(settings.sasl) } : {}),
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    logLevel: logLevel.NOTHING,
    retry: { retries, initialRetryTime: 200, maxRetryTime: 2_000 },
  };
}

function saslOptions({ mechanism, username, password }: NonNullable<KafkaSettings["sasl"]>): SASLOptions {
  switch (mechanism) {
    case "plain":
      return { mechanism, username, password };
    case "scram-sha-256":
      return { mechanism, username, password };
    case "scram-sha-512":
      return { mechanism, username, password };
  }
}
