import { z } from "zod";
import { durationSchema } from "../../src/resources/common.js";

/**
 * messaging.knative.dev/v1beta1 KafkaChannel's spec, with Knative's fields and defaults (Herald adds
 * `spec.delivery`). Validated once at apply; the adapter receives the parsed value.
 */
export const kafkaChannelSpecSchema = z.object({
  numPartitions: z.number().int().min(1, "must be >= 1").default(1),
  replicationFactor: z.number().int().min(1, "must be >= 1").default(1),
  /** Topic retention (retention.ms); Knative's default is one week. */
  retentionDuration: durationSchema.default("PT168H"),
  /**
   * Herald's: an existing topic used instead of knative-messaging-kafka.{namespace}.{channel}, as a
   * Kafka Broker's `kafka.eventing.knative.dev/external.topic` asks; never created nor deleted.
   */
  externalTopic: z.string().min(1, "must not be empty").optional(),
});
export type KafkaChannelSpec = z.output<typeof kafkaChannelSpecSchema>;
