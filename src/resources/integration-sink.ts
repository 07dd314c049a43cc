import { z } from "zod";
import { refusedAwsSchema } from "./kamelets.js";

/** Camel's LoggingLevel, which the log-sink Kamelet's `level` takes (in any case, as Camel reads it). */
export const LOG_SINK_LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF"] as const;
export type LogSinkLevel = (typeof LOG_SINK_LEVELS)[number];

/** The AWS services Knative's IntegrationSink writes to, as `spec.aws` names them. */
const AWS_SINKS = ["s3", "sqs", "sns"] as const;

/**
 * The log-sink Kamelet's properties, as Knative's IntegrationSink declares them. Each one is
 * optional; what an unset one means is Knative's log-sink connector's setting (see the sink).
 */
const logSchema = z.strictObject({
  loggerName: z.string().min(1, "must not be empty").optional(),
  level: z
    .string()
    .refine(
      (level) => (LOG_SINK_LEVELS as readonly string[]).includes(level.toUpperCase()),
      `must be one of ${LOG_SINK_LEVELS.join(", ")}`,
    )
    .optional(),
  logMask: z.boolean().optional(),
  marker: z.string().optional(),
  multiline: z.boolean().optional(),
  showAllProperties: z.boolean().optional(),
  showBody: z.boolean().optional(),
  showBodyType: z.boolean().optional(),
  showExchangePattern: z.boolean().optional(),
  showHeaders: z.boolean().optional(),
  showProperties: z.boolean().optional(),
  showStreams: z.boolean().optional(),
  showCachedStreams: z.boolean().optional(),
});

const awsSchema = refusedAwsSchema("sink", "use a JobSink running a program that writes the event to it");

/**
 * sinks.knative.dev/v1alpha1 IntegrationSink: `spec.log` (Knative's log-sink Kamelet) runs in
 * Herald; exactly one sink is set, as Knative's webhook requires.
 */
export const integrationSinkSpecSchema = z
  .strictObject({
    log: logSchema.optional(),
    aws: awsSchema.optional(),
  })
  .superRefine((spec, ctx) => {
    const set = [
      ...(spec.log ? ["log"] : []),
      ...AWS_SINKS.filter((service) => spec.aws?.[service] !== undefined).map((service) => `aws.${service}`),
    ];
    // Knative's IntegrationSinkSpec.Validate, with the fields named.
    if (set.length === 0)
      ctx.addIssue({
        code: "custom",
        message: `at least one sink type must be specified (log, ${AWS_SINKS.map((s) => `aws.${s}`).join(", ")})`,
      });
    if (set.length > 1)
      ctx.addIssue({ code: "custom", message: `only one sink type can be set, not ${set.join(" and ")}` });
  });
export type IntegrationSinkSpec = z.output<typeof integrationSinkSpecSchema>;
export type LogSinkSpec = NonNullable<IntegrationSinkSpec["log"]>;
