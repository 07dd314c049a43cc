import { z } from "zod";
import { deliverySpecSchema, destinationSchema } from "./common.js";

/** The annotation choosing a Broker's implementation, as in Knative. */
export const BROKER_CLASS_ANNOTATION = "eventing.knative.dev/broker.class";

/** eventing.knative.dev/v1 Broker. */
export const brokerSpecSchema = z.strictObject({
  /** Knative: a reference to the broker's configuration, e.g. a ConfigMap with channel-template-spec. */
  config: z
    .object({
      apiVersion: z.string().optional(),
      kind: z.string({ error: "is required" }).min(1, "is required"),
      name: z.string({ error: "is required" }).min(1, "is required"),
      namespace: z.string().optional(),
    })
    // An empty `config:` (YAML null), as Knative's samples leave it, means no configuration.
    .nullish()
    .transform((config) => config ?? undefined),
  delivery: deliverySpecSchema.optional(),
});
export type BrokerSpec = z.output<typeof brokerSpecSchema>;

/** eventing.knative.dev/v1 Trigger. `filters` is checked in depth by src/filters at apply time. */
export const triggerSpecSchema = z.strictObject({
  broker: z.string({ error: "is required" }).min(1, "is required"),
  filter: z.strictObject({ attributes: z.record(z.string(), z.string()).optional() }).optional(),
  filters: z.array(z.record(z.string(), z.unknown())).optional(),
  subscriber: destinationSchema,
  delivery: deliverySpecSchema.optional(),
});
export type TriggerSpec = z.output<typeof triggerSpecSchema>;

/** v1 ConfigMap: only as Knative uses it for brokers (`channel-template-spec`). */
export const configMapDataSchema = z.record(z.string(), z.string());

/**
 * v1 Secret: `data` holds base64 values, as Kubernetes stores them (sources read keys through
 * secretKeyRef); `stringData` holds plain values, merged into `data` base64-encoded, over `data`'s
 * value for the same key, as Kubernetes does. `type` is accepted and not kept: Herald treats every
 * Secret alike and serves it as `Opaque`. What is stored is the merged data.
 */
export const secretSchema = z
  .strictObject({
    data: z.record(z.string(), z.base64("must be base64 (Secret data is base64-encoded)")).optional(),
    stringData: z.record(z.string(), z.string()).optional(),
    type: z.string().optional(),
  })
  .transform(({ data, stringData }) => {
    const merged: Record<string, string> = { ...data };
    for (const [key, value] of Object.entries(stringData ?? {}))
      merged[key] = Buffer.from(value, "utf8").toString("base64");
    return merged;
  });

/** v1 Namespace. Herald's namespaces need no object, so a Namespace is kept as applied, to be listed. */
export const namespaceSpecSchema = z.strictObject({ finalizers: z.array(z.string()).optional() });
