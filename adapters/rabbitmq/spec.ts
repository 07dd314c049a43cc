import { z } from "zod";
import { durationSchema } from "../../src/resources/common.js";
import type { KindNames } from "../../src/resources/kind.js";

/**
 * messaging.herald.dev/v1alpha1 RabbitmqChannel: a channel on a RabbitMQ fanout exchange, one
 * durable queue per subscription. The connection URL comes from Herald's configuration
 * (`HERALD_RABBITMQ_URL` or `HERALD_RABBITMQ_URL_FILE`), never from the resource.
 *
 * ```yaml
 * apiVersion: messaging.herald.dev/v1alpha1
 * kind: RabbitmqChannel
 * metadata: { name: orders }
 * spec:
 *   queueType: quorum
 *   prefetch: 20
 *   messageTtl: PT24H
 * ```
 */
export const rabbitmqChannelNames: KindNames = {
  group: "messaging.herald.dev",
  versions: ["v1alpha1"],
  kind: "RabbitmqChannel",
  plural: "rabbitmqchannels",
  shortNames: ["rmqc", "rabbitmqchannel"],
};

export const rabbitmqChannelSpecSchema = z.object({
  /**
   * Queue type of the subscriptions' queues; quorum queues are replicated and durable. A stream keeps
   * its messages after delivery (for messageTtl, as x-max-age), so its subscriptions can replay.
   */
  queueType: z
    .enum(["quorum", "classic", "stream"], { error: 'must be "quorum", "classic" or "stream"' })
    .default("quorum"),
  /**
   * Unacknowledged deliveries per unordered subscription, when fewer than its in-flight bound
   * (maxInFlight, the default); ordered subscriptions use 1.
   */
  prefetch: z.number().int().min(1, "must be >= 1").max(65535, "must be <= 65535").optional(),
  /** Messages older than this are discarded by RabbitMQ (x-message-ttl). */
  messageTtl: durationSchema.optional(),
});
export type RabbitmqChannelSpec = z.output<typeof rabbitmqChannelSpecSchema>;
