import { z } from "zod";
import { parseGoDuration } from "../../src/resources/duration.js";
import type { KindNames } from "../../src/resources/kind.js";

/**
 * messaging.knative.dev/v1alpha1 NatsJetStreamChannel, as knative-extensions/eventing-natss declares
 * it (`pkg/apis/messaging/v1alpha1/nats_jetstream_types.go`, CRD `config/jetstream/302-jsm-channel.yaml`):
 * a channel on a JetStream stream, one durable pull consumer per subscription. The server address and
 * credentials come from Herald's configuration (`HERALD_NATS_URL`...), never from the resource.
 *
 * Every field Knative declares is either honoured or refused here with the reason; none is silently
 * ignored. Durations are Go durations (`90s`, `1h30m`), as Kubernetes writes `metav1.Duration`; times
 * are RFC 3339. Refused: `stream.config.mirror` and `noAck: true` (Herald publishes to the stream and
 * waits for its acknowledgement), `consumerConfigTemplate.consumerType: Push`, `rateLimitBPS` (pull
 * consumers only), `maxDeliver` (retries are `spec.delivery`'s), `deploymentSpecTemplate` (no
 * dispatcher Deployment) and `subscribers` (Herald wires Subscriptions). One default differs from
 * Knative's dispatcher: without `consumerConfigTemplate.deliverPolicy` a subscription starts with the
 * events published after it was created (`New`), as on every Herald channel; write `All` to replay
 * what the stream holds.
 *
 * ```yaml
 * apiVersion: messaging.knative.dev/v1alpha1
 * kind: NatsJetStreamChannel
 * metadata: { name: orders }
 * spec:
 *   stream:
 *     config:
 *       retention: Limits
 *       maxAge: 168h
 *       storage: File
 *       replicas: 1
 *   consumerConfigTemplate:
 *     deliverPolicy: All
 *     ackWait: 30s
 * ```
 */
export const natsJetStreamChannelNames: KindNames = {
  group: "messaging.knative.dev",
  versions: ["v1alpha1"],
  kind: "NatsJetStreamChannel",
  plural: "natsjetstreamchannels",
  shortNames: ["natsjsmc"],
};

/**
 * A Go duration (`time.ParseDuration`, the JSON form of Kubernetes' `metav1.Duration`) in
 * milliseconds: `"1h30m"` → 5_400_000, `"0"` → 0. Undefined when it is not one; signs are refused.
 */
export function goDurationToMs(value: string): number | undefined {
  return /^[-+]/.test(value) ? undefined : parseGoDuration(value);
}

/** A non-negative Go duration of at least `minMs`. */
function goDuration(minMs = 0, minText = "0") {
  return z.string().superRefine((value, ctx) => {
    const ms = goDurationToMs(value);
    if (ms === undefined)
      ctx.addIssue({ code: "custom", message: "must be a Go duration such as 30s, 5m or 1h30m" });
    else if (ms < minMs) ctx.addIssue({ code: "custom", message: `must be at least ${minText}` });
  });
}

/** RFC 3339, as Kubernetes writes `metav1.Time`. */
const rfc3339 = z.iso.datetime({
  offset: true,
  error: "must be an RFC 3339 time such as 2024-05-01T00:00:00Z",
});

/** A NATS subject a stream or consumer may name: dot-separated tokens, wildcards `*` and a final `>`. */
const subject = z
  .string()
  .regex(
    /^(?:[^\s.*>]+|\*)(?:\.(?:[^\s.*>]+|\*))*(?:\.>)?$|^>$/,
    "must be a NATS subject (dot-separated tokens without spaces; * and a final > as wildcards)",
  );

/** JetStream's name rules for streams: no whitespace, `.`, `*`, `>` or path separators. */
const jetStreamName = z
  .string()
  .min(1, "must not be empty")
  .max(255, "must be at most 255 characters")
  .regex(/^[^\s.*>/\\]+$/, "must not contain whitespace, '.', '*', '>', '/' or '\\'");

/** An int64/int32 limit where -1 (and Knative's unset 0) mean unlimited. */
const limit = (max: number) => z.number().int("must be an integer").min(-1, "must be >= -1").max(max);

/** A field Knative declares that Herald cannot honour: absent is fine, any value is refused with `reason`. */
function refused(reason: string) {
  return z.custom<undefined>((value) => value === undefined, { error: reason }).optional();
}

const streamSourceSchema = z.strictObject({
  /** The stream this one takes messages from. */
  name: jetStreamName,
  optStartSeq: z.number().int().min(0, "must be >= 0").optional(),
  optStartTime: rfc3339.optional(),
  filterSubject: subject.optional(),
});

const streamConfigSchema = z.strictObject({
  /** More subjects the stream captures, besides the channel's own (`{namespace}.{name}._knative`). */
  additionalSubjects: z.array(subject).optional(),
  retention: z
    .enum(["Limits", "Interest", "Work"], { error: 'must be "Limits", "Interest" or "Work"' })
    .optional(),
  maxConsumers: limit(2 ** 31 - 1).optional(),
  maxMsgs: limit(Number.MAX_SAFE_INTEGER).optional(),
  maxBytes: limit(Number.MAX_SAFE_INTEGER).optional(),
  /** `New` refuses publishes when the stream is full: ingress answers 503 ChannelFull. */
  discard: z.enum(["Old", "New"], { error: 'must be "Old" or "New"' }).optional(),
  maxAge: goDuration().optional(),
  maxMsgSize: limit(2 ** 31 - 1).optional(),
  storage: z.enum(["File", "Memory"], { error: 'must be "File" or "Memory"' }).optional(),
  replicas: z.number().int().min(1, "must be >= 1").max(5, "must be <= 5 (JetStream's most)").optional(),
  noAck: z
    .boolean()
    .refine((value) => !value, {
      error:
        "true is not supported: Herald publishes with JetStream acknowledgements, its durability guarantee",
    })
    .optional(),
  duplicateWindow: goDuration().optional(),
  placement: z
    .strictObject({ cluster: z.string().optional(), tags: z.array(z.string()).optional() })
    .optional(),
  mirror: refused(
    "is not supported: a mirror stream takes no publishes, so the channel could not accept events",
  ),
  sources: z.array(streamSourceSchema).optional(),
});

const consumerConfigTemplateSchema = z
  .strictObject({
    deliverPolicy: z
      .enum(["All", "Last", "New", "ByStartSequence", "ByStartTime"], {
        error: 'must be "All", "Last", "New", "ByStartSequence" or "ByStartTime"',
      })
      .optional(),
    optStartSeq: z.number().int().min(1, "must be >= 1").optional(),
    optStartTime: rfc3339.optional(),
    /** How long NATS waits for an acknowledgement; Herald keeps a message in progress while its handler runs. */
    ackWait: goDuration(1_000, "1s").optional(),
    maxDeliver: refused(
      "is not supported: Herald retries with spec.delivery (retry, backoffPolicy, backoffDelay) and then dead-letters; set those instead",
    ),
    filterSubject: subject.optional(),
    replayPolicy: z.enum(["Instant", "Original"], { error: 'must be "Instant" or "Original"' }).optional(),
    rateLimitBPS: refused(
      "is not supported: JetStream limits the rate of push consumers only, and Herald's are pull consumers",
    ),
    sampleFrequency: z
      .string()
      .regex(/^(?:100|[1-9]?\d)%?$/, 'must be a percentage from 0 to 100, such as "30" or "30%"')
      .optional(),
    /** Unacknowledged messages of the subscription across every process; ordered subscriptions use 1. */
    maxAckPending: z
      .number()
      .int()
      .refine((value) => value === -1 || value >= 1, "must be -1 (unlimited) or >= 1")
      .optional(),
    consumerType: z
      .enum(["Pull", "Push"], { error: 'must be "Pull" or "Push"' })
      .refine((value) => value === "Pull", {
        error:
          '"Push" is not supported: Herald runs one durable pull consumer per subscription; use "Pull" or leave it unset',
      })
      .optional(),
    /** How long one pull waits for its batch (the NATS client's minimum is 1s). */
    fetchMaxWait: goDuration(1_000, "1s").optional(),
    /** Messages asked for per pull; never more than the subscription's free handler slots. */
    fetchBatchSize: z.number().int().min(1, "must be >= 1").optional(),
  })
  .superRefine((template, ctx) => {
    const policy = template.deliverPolicy;
    if (policy === "ByStartSequence" && template.optStartSeq === undefined)
      ctx.addIssue({
        code: "custom",
        path: ["optStartSeq"],
        message: "is required with deliverPolicy ByStartSequence",
      });
    if (policy !== "ByStartSequence" && template.optStartSeq !== undefined)
      ctx.addIssue({
        code: "custom",
        path: ["optStartSeq"],
        message: "applies only with deliverPolicy ByStartSequence",
      });
    if (policy === "ByStartTime" && template.optStartTime === undefined)
      ctx.addIssue({
        code: "custom",
        path: ["optStartTime"],
        message: "is required with deliverPolicy ByStartTime",
      });
    if (policy !== "ByStartTime" && template.optStartTime !== undefined)
      ctx.addIssue({
        code: "custom",
        path: ["optStartTime"],
        message: "applies only with deliverPolicy ByStartTime",
      });
  });

export const natsJetStreamChannelSpecSchema = z.strictObject({
  stream: z
    .strictObject({
      /** The stream's name instead of the one derived from the channel (`KN_{NAMESPACE}__{NAME}`). */
      overrideName: jetStreamName.optional(),
      config: streamConfigSchema.optional(),
    })
    .optional(),
  consumerConfigTemplate: consumerConfigTemplateSchema.optional(),
  deploymentSpecTemplate: refused(
    "is not supported: Herald runs no dispatcher Deployment; it consumes in its own process",
  ),
  subscribers: refused("is not supported: create a Subscription to the channel instead"),
});

export type NatsJetStreamChannelSpec = z.output<typeof natsJetStreamChannelSpecSchema>;
