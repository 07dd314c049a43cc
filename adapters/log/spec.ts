import { z } from "zod";
import { durationSchema } from "../../src/resources/common.js";
import { durationToMs } from "../../src/resources/duration.js";
import type { KindNames } from "../../src/resources/kind.js";

/**
 * messaging.herald.dev/v1alpha1 LogChannel: Herald's embedded durable channel, an append-only log
 * per channel in Herald's data directory (`<dataDir>/channels`, or HERALD_LOG_DIR) with a committed
 * position per subscription. Nothing to install; events survive a crash or restart of Herald.
 *
 * - `retentionDuration` (ISO-8601, default one week, as Knative's KafkaChannel): how long an event is
 *   kept for a subscription that has not taken it. Older segments are deleted even when a
 *   subscription is still behind (retention wins, as in Kafka); what a subscription loses that way
 *   is logged as a warning with the count of events.
 * - `retentionBytes` (default 1Gi): the most disk the channel's log takes. Segments every
 *   subscription has taken are deleted as soon as they are; when the limit is reached and nothing
 *   more can be deleted, publishes are refused with 503 (ChannelFull) until the subscriptions catch
 *   up: an event is never deleted to make room.
 * - `segmentBytes` (default 16Mi): the size at which the log starts a new segment file; space is
 *   given back a whole segment at a time.
 *
 * Sizes are bytes, as a number or a Kubernetes quantity (`512Mi`, `1Gi`, `10G`).
 *
 * ```yaml
 * apiVersion: messaging.herald.dev/v1alpha1
 * kind: LogChannel
 * metadata: { name: orders }
 * spec:
 *   retentionDuration: P3D
 *   retentionBytes: 2Gi
 * ```
 */
export const logChannelNames: KindNames = {
  group: "messaging.herald.dev",
  versions: ["v1alpha1"],
  kind: "LogChannel",
  plural: "logchannels",
  shortNames: ["lch", "logchannel"],
};

const QUANTITY = /^(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?$/;
const UNITS: Readonly<Record<string, number>> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
};

/** A size in bytes: a whole number, or a Kubernetes quantity string ("512Mi"); undefined when neither. */
export function bytesOf(value: number | string): number | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const match = QUANTITY.exec(value.trim());
  if (!match) return undefined;
  const bytes = Number(match[1]) * (match[2] ? UNITS[match[2]]! : 1);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** The smallest segment (and log) Herald accepts: smaller ones would roll on every publish. */
export const MIN_SEGMENT_BYTES = 1024;

const byteSize = z
  .union([z.number(), z.string()])
  .refine(
    (value) => (bytesOf(value) ?? 0) >= MIN_SEGMENT_BYTES,
    `must be a size of at least ${MIN_SEGMENT_BYTES} bytes: a number of bytes or a quantity such as 512Mi or 1Gi`,
  );

export const logChannelSpecSchema = z
  .strictObject({
    retentionDuration: durationSchema
      .refine((value) => (durationToMs(value) ?? 0) > 0, "must be longer than zero")
      .default("PT168H"),
    retentionBytes: byteSize.default("1Gi"),
    segmentBytes: byteSize.default("16Mi"),
  })
  .superRefine((spec, ctx) => {
    const retention = bytesOf(spec.retentionBytes);
    const segment = bytesOf(spec.segmentBytes);
    if (retention !== undefined && segment !== undefined && segment > retention)
      ctx.addIssue({
        code: "custom",
        path: ["segmentBytes"],
        message: `must not exceed retentionBytes (${retention} bytes)`,
      });
  });

export type LogChannelSpec = z.output<typeof logChannelSpecSchema>;

/** A channel's settings in the units the log works in. */
export interface LogSettings {
  readonly retentionMs: number;
  readonly retentionBytes: number;
  readonly segmentBytes: number;
}

/** The spec (validated at apply) in milliseconds and bytes. */
export function settingsOf(spec: LogChannelSpec): LogSettings {
  return {
    retentionMs: durationToMs(spec.retentionDuration)!,
    retentionBytes: bytesOf(spec.retentionBytes)!,
    segmentBytes: bytesOf(spec.segmentBytes)!,
  };
}
