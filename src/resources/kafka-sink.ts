import { z } from "zod";

/**
 * eventing.knative.dev/v1alpha1 KafkaSink (eventing-kafka-broker): events posted to it are produced
 * to `topic` on `bootstrapServers`, in `contentMode` binary (the default) or structured. With both
 * `numPartitions` and `replicationFactor` the topic is created when missing; otherwise it must exist.
 * `auth.secret.ref.name` names a Secret with Knative's keys: protocol, sasl.mechanism, user,
 * password, ca.crt, user.crt, user.key.
 */
export const kafkaSinkSpecSchema = z.strictObject({
  topic: z.string({ error: "is required" }).min(1, "is required"),
  bootstrapServers: z
    .array(z.string().min(1, "must not be empty"), { error: "is required" })
    .min(1, "must name at least one server"),
  numPartitions: z.number().int().min(1, "must be >= 1").optional(),
  replicationFactor: z.number().int().min(1, "must be >= 1").optional(),
  contentMode: z
    .enum(["binary", "structured"], { error: 'must be "binary" or "structured"' })
    .default("binary"),
  auth: z
    .strictObject({
      secret: z.strictObject({
        ref: z.strictObject({ name: z.string({ error: "is required" }).min(1, "is required") }),
      }),
    })
    .optional(),
});
export type KafkaSinkSpec = z.output<typeof kafkaSinkSpecSchema>;
