import { z } from "zod";
import { durationToMs } from "../../src/resources/duration.js";
import type { KindNames } from "../../src/resources/kind.js";

/**
 * messaging.herald.dev/v1alpha1 PubSubChannel: a channel backed by one Google Cloud Pub/Sub topic,
 * with one Pub/Sub subscription per Herald Subscription. Connection settings (emulator host, key
 * file) come from Herald's configuration, never from the resource.
 *
 * ```yaml
 * apiVersion: messaging.herald.dev/v1alpha1
 * kind: PubSubChannel
 * metadata: { name: orders }
 * spec:
 *   ackDeadline: PT30S
 *   enableMessageOrdering: true
 * ```
 */
export const pubsubChannelNames: KindNames = {
  group: "messaging.herald.dev",
  versions: ["v1alpha1"],
  kind: "PubSubChannel",
  plural: "pubsubchannels",
  shortNames: ["psc", "pubsubchannel"],
};

/** Pub/Sub resource IDs: start with a letter, 3-255 of [A-Za-z0-9-_.~+%], not "goog..." (Pub/Sub resource names). */
const pubsubResourceId = /^(?!goog)[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/;

function durationWithin(minMs: number, maxMs: number, what: string) {
  return z.string().refine((value) => {
    const ms = durationToMs(value);
    return ms !== undefined && ms >= minMs && ms <= maxMs;
  }, `must be an ISO-8601 duration between ${what}`);
}

export const pubsubChannelSpecSchema = z.object({
  /** The Google Cloud project of the topic; defaults to Herald's `pubsub.projectId`. */
  project: z
    .string()
    .regex(
      /^[a-z][-a-z0-9.:]{0,61}[a-z0-9]$/,
      "must be a Google Cloud project ID (lowercase letters, digits, '-')",
    )
    .optional(),
  /** The topic ID; defaults to `herald.{namespace}.{name}`. */
  topic: z
    .string()
    .regex(
      pubsubResourceId,
      "must be a Pub/Sub topic ID (3-255 of A-Z a-z 0-9 - _ . ~ + %, starting with a letter)",
    )
    .optional(),
  /**
   * How long Pub/Sub waits for an acknowledgement before it redelivers an event to another
   * consumer (10 s to 600 s, Pub/Sub's bounds). While Herald works on an event it keeps extending
   * this deadline, so it only matters when a Herald process stops.
   */
  ackDeadline: durationWithin(10_000, 600_000, "PT10S and PT600S").default("PT60S"),
  /** How long the subscriptions keep unacknowledged events (10 minutes to 7 days; Pub/Sub's default is 7 days). */
  messageRetentionDuration: durationWithin(600_000, 7 * 24 * 3_600_000, "PT10M and P7D").optional(),
  /**
   * Publishes with the event's `partitionkey` extension as the Pub/Sub ordering key, so that
   * events of one key are delivered in order to ordered subscriptions.
   */
  enableMessageOrdering: z.boolean().default(false),
});
export type PubSubChannelSpec = z.output<typeof pubsubChannelSpecSchema>;
