import { z } from "zod";
import { destinationSchema } from "./common.js";

/**
 * A JSONata expression. As in Knative, it is not checked when applied: one that does not compile
 * leaves the EventTransform not Ready, with the compiler's message.
 */
const jsonataSchema = z.strictObject({
  expression: z.string({ error: "is required" }).min(1, "is required"),
});

/**
 * eventing.knative.dev/v1alpha1 EventTransform. Without `sink`, the transformed event is the answer
 * to the request (a Trigger's reply goes back to its Broker); with `sink`, it is sent there, and the
 * sink's answer is the reply, transformed by `reply.jsonata` or dropped with `reply.discard`.
 */
export const eventTransformSpecSchema = z
  .strictObject({
    sink: destinationSchema.optional(),
    jsonata: jsonataSchema.optional(),
    reply: z.strictObject({ jsonata: jsonataSchema.optional(), discard: z.boolean().optional() }).optional(),
  })
  .superRefine((spec, ctx) => {
    // Knative's EventTransformSpec.Validate: exactly one transformation; reply only with a sink.
    if (!spec.jsonata) ctx.addIssue({ code: "custom", message: "expected exactly one of: jsonata" });
    if (spec.reply && !spec.sink)
      ctx.addIssue({ code: "custom", path: ["reply"], message: "reply is set without spec.sink" });
    if (spec.reply?.jsonata && spec.reply.discard)
      ctx.addIssue({ code: "custom", path: ["reply"], message: "expected exactly one of: jsonata, discard" });
    if (spec.sink?.CACerts !== undefined && spec.jsonata)
      ctx.addIssue({
        code: "custom",
        path: ["sink", "CACerts"],
        message: "CACerts for the sink is not supported for JSONata transformations",
      });
  });
export type EventTransformSpec = z.output<typeof eventTransformSpecSchema>;
