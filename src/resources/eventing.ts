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
    .optional(),
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

/** v1 Secret `data`: base64 values, as Kubernetes stores them (sources read keys via secretKeyRef). */
export const secretDataSchema = z.record(
  z.string(),
  z.base64("must be base64 (Secret data is base64-encoded)"),
);
