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
});
export type KafkaChannelSpec = z.output<typeof kafkaChannelSpecSchema>;
