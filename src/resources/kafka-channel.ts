import { z } from "zod";
import { durationSchema } from "./common.js";

/** messaging.knative.dev/v1beta1 KafkaChannel, with Knative's fields and defaults. */
export const kafkaChannelSpecSchema = z.object({
  numPartitions: z.number().int().min(1, "must be >= 1").default(1),
  replicationFactor: z.number().int().min(1, "must be >= 1").default(1),
  /** Topic retention (retention.ms); Knative's default is one week. */
  retentionDuration: durationSchema.default("PT168H"),
});
export type KafkaChannelSpec = z.output<typeof kafkaChannelSpecSchema>;
