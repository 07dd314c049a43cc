import { z } from "zod";
import { deliverySpecSchema, destinationSchema } from "./common.js";

/** messaging.knative.dev/v1 Channel: a channel whose backing kind comes from channelTemplate. */
export const channelSpecSchema = z.strictObject({
  channelTemplate: z
    .object({
      apiVersion: z.string({ error: "is required" }).min(1, "is required"),
      kind: z.string({ error: "is required" }).min(1, "is required"),
      spec: z.record(z.string(), z.unknown()).optional(),
    })
    .optional(),
  delivery: deliverySpecSchema.optional(),
});
export type ChannelSpec = z.output<typeof channelSpecSchema>;

/** messaging.knative.dev/v1 Subscription. */
export const subscriptionSpecSchema = z.strictObject({
  channel: z.strictObject(
    {
      apiVersion: z.string({ error: "is required" }).min(1, "is required"),
      kind: z.string({ error: "is required" }).min(1, "is required"),
      name: z.string({ error: "is required" }).min(1, "is required"),
    },
    { error: "is required" },
  ),
  subscriber: destinationSchema.optional(),
  reply: destinationSchema.optional(),
  delivery: deliverySpecSchema.optional(),
});
export type SubscriptionSpec = z.output<typeof subscriptionSpecSchema>;
