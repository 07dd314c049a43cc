import { z } from "zod";
import { refusedAwsSchema } from "../../src/resources/kamelets.js";
import type { SourceFactory } from "../source.js";
import { startTimer, TIMER_EVENT } from "./timer.js";

/** The AWS services Knative's IntegrationSource reads, as `spec.aws` names them. */
const AWS_SOURCES = ["s3", "sqs", "ddbStreams"] as const;

const awsSchema = refusedAwsSchema(
  "source",
  "use a ContainerSource or ProcessSource running a program that reads it and posts each event to K_SINK",
);

/**
 * sources.knative.dev/v1alpha1 IntegrationSource. `spec.timer` (Knative's timer-source Kamelet)
 * runs in Herald: an event every `period` milliseconds (1000), `message` as its data (the
 * connector's "Timer source event!" when unset) of `contentType` (text/plain), `repeatCount` fires
 * at most when above 0. `spec.template` configures the pod Knative would run; Herald runs none and
 * keeps it without effect. As Knative's webhook requires, exactly one source is set.
 */
const specSchema = z
  .object({
    timer: z
      .object({
        period: z.number().int("must be a whole number of milliseconds").min(1, "must be >= 1").default(1000),
        message: z.string().default("Timer source event!"),
        contentType: z.string().min(1, "must not be empty").default("text/plain"),
        repeatCount: z.number().int("must be a whole number").optional(),
      })
      .optional(),
    aws: awsSchema.optional(),
    template: z.looseObject({}).optional(),
  })
  .superRefine((spec, ctx) => {
    const set = [
      ...(spec.timer ? ["timer"] : []),
      ...AWS_SOURCES.filter((service) => spec.aws?.[service] !== undefined).map(
        (service) => `aws.${service}`,
      ),
    ];
    // Knative's IntegrationSourceSpec.Validate, with the fields named.
    if (set.length === 0)
      ctx.addIssue({
        code: "custom",
        message: `at least one source type must be specified (timer, ${AWS_SOURCES.map((s) => `aws.${s}`).join(", ")})`,
      });
    if (set.length > 1)
      ctx.addIssue({ code: "custom", message: `only one source type can be set, not ${set.join(" and ")}` });
  });

export const integrationSource: SourceFactory<typeof specSchema> = {
  group: "sources.knative.dev",
  versions: ["v1alpha1"],
  kind: "IntegrationSource",
  plural: "integrationsources",
  shortNames: ["integrationsource"],
  specSchema,
  ceAttributes: (spec) => (spec.timer ? [{ type: TIMER_EVENT.type, source: TIMER_EVENT.source }] : []),
  async start(spec, context) {
    // Only a timer passes validation: the AWS sources are refused at apply.
    const worker = startTimer(spec.timer!, context);
    // Knative's IntegrationCondSet: the timer runs in Herald where Knative runs a ContainerSource.
    context.setCondition("ContainerSourceReady", "True");
    return worker;
  },
};
