import { z } from "zod";
import { deliverySpecSchema, destinationSchema } from "./common.js";

/** messaging.knative.dev/v1 ChannelTemplateSpec: the kind (and spec) of the channels a flow makes. */
export const channelTemplateSchema = z.strictObject({
  apiVersion: z.string({ error: "is required" }).min(1, "is required"),
  kind: z.string({ error: "is required" }).min(1, "is required"),
  spec: z.record(z.string(), z.unknown()).optional(),
});

/** flows.knative.dev/v1 SequenceStep: a Destination (inline) and its delivery. */
const sequenceStepSchema = destinationSchema.safeExtend({ delivery: deliverySpecSchema.optional() });

/** flows.knative.dev/v1 Sequence. Without channelTemplate, the default channel kind is used. */
export const sequenceSpecSchema = z.strictObject({
  steps: z.array(sequenceStepSchema, { error: "is required" }).min(1, "must have at least one step"),
  channelTemplate: channelTemplateSchema.optional(),
  reply: destinationSchema.optional(),
});
export type SequenceSpec = z.output<typeof sequenceSpecSchema>;

/** flows.knative.dev/v1 ParallelBranch. */
const parallelBranchSchema = z.strictObject({
  filter: destinationSchema.optional(),
  subscriber: destinationSchema,
  reply: destinationSchema.optional(),
  delivery: deliverySpecSchema.optional(),
});

/** flows.knative.dev/v1 Parallel. Without channelTemplate, the default channel kind is used. */
export const parallelSpecSchema = z.strictObject({
  branches: z.array(parallelBranchSchema, { error: "is required" }).min(1, "must have at least one branch"),
  channelTemplate: channelTemplateSchema.optional(),
  reply: destinationSchema.optional(),
});
export type ParallelSpec = z.output<typeof parallelSpecSchema>;
