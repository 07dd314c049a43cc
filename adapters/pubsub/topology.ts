import { createHash } from "node:crypto";
import { durationToMs } from "../../src/resources/duration.js";
import type { ChannelTarget, SubscriptionTarget } from "../adapter.js";
import type { PubSubChannelSpec } from "./spec.js";

/**
 * What the adapter needs to know about one PubSubChannel. Resolved from the typed spec when the
 * channel is created (every apply and at start) and kept, so publishing only looks it up.
 */
export interface ChannelTopology {
  /** `{namespace}/{name}` of the channel. */
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly project: string;
  /** Full resource name, projects/{project}/topics/{topic}. */
  readonly topicName: string;
  readonly ackDeadlineSeconds: number;
  readonly retentionSeconds: number | undefined;
  readonly enableMessageOrdering: boolean;
}

/** Pub/Sub resource IDs are at most 255 characters. */
const MAX_ID = 255;

/**
 * Joins parts into a Pub/Sub resource ID; too long a name keeps its start and gets a hash suffix.
 * The parts are "herald" and Kubernetes names (lowercase letters, digits, '-', '.'), so the ID
 * starts with a letter and uses only characters Pub/Sub allows.
 */
function resourceId(parts: readonly string[]): string {
  const id = parts.join(".");
  if (id.length <= MAX_ID) return id;
  const hash = createHash("sha256").update(id).digest("hex").slice(0, 16);
  return `${id.slice(0, MAX_ID - hash.length - 1)}.${hash}`;
}

export function channelKey(channel: Pick<ChannelTarget, "namespace" | "name">): string {
  return `${channel.namespace}/${channel.name}`;
}

export function resolveTopology(
  channel: ChannelTarget<PubSubChannelSpec>,
  defaultProject: string,
): ChannelTopology {
  const { spec } = channel;
  const project = spec.project ?? defaultProject;
  const topic = spec.topic ?? resourceId(["herald", channel.namespace, channel.name]);
  const retentionMs = spec.messageRetentionDuration ? durationToMs(spec.messageRetentionDuration) : undefined;
  return {
    key: channelKey(channel),
    namespace: channel.namespace,
    name: channel.name,
    project,
    topicName: `projects/${project}/topics/${topic}`,
    ackDeadlineSeconds: Math.round((durationToMs(spec.ackDeadline) ?? 60_000) / 1000),
    retentionSeconds: retentionMs === undefined ? undefined : Math.round(retentionMs / 1000),
    enableMessageOrdering: spec.enableMessageOrdering,
  };
}

/**
 * The Pub/Sub subscription of a Herald Subscription: `herald.{namespace}.{channel}.{subscription}`.
 * Named after the subscription's name, never its uid, so Herald processes that load the same
 * manifests pull from one Pub/Sub subscription and share its events (uids differ per data
 * directory). The channel is part of the name because a Pub/Sub subscription stays attached to
 * the topic it was created on.
 */
export function subscriptionName(
  topology: ChannelTopology,
  subscription: Pick<SubscriptionTarget, "namespace" | "name">,
): string {
  const id = resourceId(["herald", subscription.namespace, topology.name, subscription.name]);
  return `projects/${topology.project}/subscriptions/${id}`;
}

/** Prefix of every subscription Herald names in a project, to recognise its own when cleaning up. */
const HERALD_SUBSCRIPTION = /\/subscriptions\/herald\./;

export function isHeraldSubscription(name: string): boolean {
  return HERALD_SUBSCRIPTION.test(name);
}
