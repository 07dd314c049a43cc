import { createHash } from "node:crypto";
import { durationToMs } from "../../src/resources/duration.js";
import { pubsubChannelSpecSchema } from "../../src/resources/pubsub-channel.js";
import type { ChannelTarget, SubscriptionTarget } from "../adapter.js";

/** What the adapter needs to know about one PubSubChannel, resolved once per apply. */
export interface ChannelTopology {
  readonly key: string;
  readonly project: string;
  /** Full resource name, projects/{project}/topics/{topic}. */
  readonly topicName: string;
  readonly ackDeadlineSeconds: number;
  readonly retentionSeconds: number | undefined;
  readonly enableMessageOrdering: boolean;
}

/** Pub/Sub resource IDs are at most 255 characters. */
const MAX_ID = 255;

/** Joins parts into a Pub/Sub resource ID; too long a name keeps its start and gets a hash suffix. */
function resourceId(parts: readonly string[]): string {
  const id = parts.join(".");
  if (id.length <= MAX_ID) return id;
  const hash = createHash("sha256").update(id).digest("hex").slice(0, 16);
  return `${id.slice(0, MAX_ID - hash.length - 1)}.${hash}`;
}

export function channelKey(channel: Pick<ChannelTarget, "namespace" | "name">): string {
  return `${channel.namespace}/${channel.name}`;
}

export function resolveTopology(channel: ChannelTarget, defaultProject: string): ChannelTopology {
  // The spec was validated when it was applied; parsing again fills the defaults for callers that
  // pass a partial spec.
  const spec = pubsubChannelSpecSchema.parse(channel.spec);
  const project = spec.project ?? defaultProject;
  const topic = spec.topic ?? resourceId(["herald", channel.namespace, channel.name]);
  const retentionMs = spec.messageRetentionDuration ? durationToMs(spec.messageRetentionDuration) : undefined;
  return {
    key: channelKey(channel),
    project,
    topicName: `projects/${project}/topics/${topic}`,
    ackDeadlineSeconds: Math.round((durationToMs(spec.ackDeadline) ?? 60_000) / 1000),
    retentionSeconds: retentionMs === undefined ? undefined : Math.round(retentionMs / 1000),
    enableMessageOrdering: spec.enableMessageOrdering,
  };
}

/** The Pub/Sub subscription ID of a Herald Subscription: a new uid means a new position. */
export function subscriptionName(topology: ChannelTopology, subscription: SubscriptionTarget): string {
  return `projects/${topology.project}/subscriptions/${resourceId(["herald", subscription.namespace, subscription.name, subscription.uid])}`;
}

/** Prefix of every subscription Herald names in a project, to recognise its own when cleaning up. */
export function isHeraldSubscription(name: string): boolean {
  return /\/subscriptions\/herald\./.test(name);
}
