import type { Channel } from "amqplib";
import { durationToMs } from "../../src/resources/duration.js";
import type { RabbitmqChannelSpec } from "./spec.js";

/**
 * A RabbitmqChannel's topology:
 *   exchange  herald.{namespace}.{channel}                   durable fanout, one per channel
 *   queue     herald.{namespace}.{channel}.{subscription}    durable (quorum by default), one per
 *             Subscription, bound to the channel's exchange, so every subscription sees every event
 *
 * A queue is named after the subscription's namespace (a Subscription lives in its channel's) and
 * name, never its uid: two Herald processes running the same subscription consume the same queue
 * and share its messages as competing consumers.
 */
export function exchangeName(channel: { namespace: string; name: string }): string {
  return `herald.${channel.namespace}.${channel.name}`;
}

export function queueName(
  channel: { namespace: string; name: string },
  subscription: { name: string },
): string {
  return `herald.${channel.namespace}.${channel.name}.${subscription.name}`;
}

/** Declares the channel's exchange; idempotent. */
export async function declareExchange(
  amqp: Channel,
  channel: { namespace: string; name: string },
): Promise<void> {
  await amqp.assertExchange(exchangeName(channel), "fanout", { durable: true });
}

/** Declares a subscription's queue with the channel's settings and binds it; idempotent. */
export async function declareQueue(
  amqp: Channel,
  channel: { namespace: string; name: string; spec: RabbitmqChannelSpec },
  subscription: { name: string },
): Promise<void> {
  const { queueType, messageTtl } = channel.spec;
  const args: Record<string, unknown> = { "x-queue-type": queueType };
  const ttl = messageTtl === undefined ? undefined : durationToMs(messageTtl);
  // A stream has no per-message TTL: it drops whole segments older than x-max-age.
  if (ttl !== undefined && queueType === "stream")
    args["x-max-age"] = `${Math.max(1, Math.round(ttl / 1000))}s`;
  else if (ttl !== undefined) args["x-message-ttl"] = Math.round(ttl);
  const queue = queueName(channel, subscription);
  await amqp.assertQueue(queue, { durable: true, arguments: args });
  await amqp.bindQueue(queue, exchangeName(channel), "");
}
