import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type StreamConfig,
} from "@nats-io/jetstream";
import { nanos, type WithRequired } from "@nats-io/transport-node";
import type { ChannelTarget, SubscriptionTarget } from "../adapter.js";
import { goDurationToMs, type NatsJetStreamChannelSpec } from "./spec.js";

/**
 * Where a NatsJetStreamChannel lives in JetStream, and the stream and consumer configuration its
 * spec asks for. Computed when a channel is created or a subscription starts, never per event.
 *
 *   stream    KN_{NAMESPACE}__{NAME}            one per channel (Knative's name; `stream.overrideName` wins)
 *   subject   {namespace}.{name}._knative       what Herald publishes to (Knative's subject), plus
 *                                               `stream.config.additionalSubjects`
 *   consumer  {NAMESPACE}__{NAME}               one durable pull consumer per subscription, named after
 *                                               the subscription, so processes running it share its work
 */
type Named = { readonly namespace: string; readonly name: string };

/** Kubernetes names are lowercase [a-z0-9-.]; JetStream names take neither `.` nor lowercase by convention. */
function token(name: string): string {
  return name.toUpperCase().replaceAll("-", "_").replaceAll(".", "-");
}

/**
 * `{NAMESPACE}__{NAME}`, Knative's form. A namespace holding `--` would turn into `__` and make the
 * split ambiguous, so such a namespace keeps its `-` instead (Knative's form never has `-` there):
 * the part before the first `__` always tells the namespace, so distinct objects get distinct names.
 */
function qualified(object: Named): string {
  const namespace = object.namespace.includes("--")
    ? object.namespace.toUpperCase()
    : token(object.namespace);
  return `${namespace}__${token(object.name)}`;
}

export function streamName(channel: ChannelTarget<NatsJetStreamChannelSpec>): string {
  return channel.spec.stream?.overrideName ?? `KN_${qualified(channel)}`;
}

export function channelSubject(channel: Named): string {
  return `${channel.namespace}.${channel.name}._knative`;
}

export function consumerName(subscription: Named): string {
  return qualified(subscription);
}

const toMs = (value: string | undefined, fallbackMs: number): number =>
  value === undefined ? fallbackMs : (goDurationToMs(value) ?? fallbackMs);

/** JetStream's default duplicate window; never longer than maxAge (JetStream requires it). */
const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;

/**
 * The whole stream configuration, JetStream's defaults filled in, so that removing a field from the
 * spec also resets it on the stream at the next `createChannel`.
 */
export function streamConfig(
  channel: ChannelTarget<NatsJetStreamChannelSpec>,
): WithRequired<Partial<StreamConfig>, "name"> {
  const config = channel.spec.stream?.config ?? {};
  const maxAgeMs = toMs(config.maxAge, 0);
  const duplicateWindowMs =
    toMs(config.duplicateWindow, 0) ||
    (maxAgeMs > 0 ? Math.min(maxAgeMs, DEFAULT_DUPLICATE_WINDOW_MS) : DEFAULT_DUPLICATE_WINDOW_MS);
  return {
    name: streamName(channel),
    subjects: [channelSubject(channel), ...(config.additionalSubjects ?? [])],
    retention: {
      Limits: RetentionPolicy.Limits,
      Interest: RetentionPolicy.Interest,
      Work: RetentionPolicy.Workqueue,
    }[config.retention ?? "Limits"],
    max_consumers: config.maxConsumers || -1,
    max_msgs: config.maxMsgs || -1,
    max_bytes: config.maxBytes || -1,
    discard: config.discard === "New" ? DiscardPolicy.New : DiscardPolicy.Old,
    max_age: nanos(maxAgeMs),
    max_msg_size: config.maxMsgSize || -1,
    storage: config.storage === "Memory" ? StorageType.Memory : StorageType.File,
    num_replicas: config.replicas ?? 1,
    no_ack: false,
    duplicate_window: nanos(duplicateWindowMs),
    ...(config.placement
      ? { placement: { cluster: config.placement.cluster ?? "", tags: config.placement.tags ?? [] } }
      : {}),
    sources: (config.sources ?? []).map((source) => ({
      name: source.name,
      ...(source.optStartSeq ? { opt_start_seq: source.optStartSeq } : {}),
      ...(source.optStartTime ? { opt_start_time: source.optStartTime } : {}),
      ...(source.filterSubject ? { filter_subject: source.filterSubject } : {}),
    })),
  };
}

/** JetStream's default acknowledgement wait. */
export const DEFAULT_ACK_WAIT_MS = 30_000;
/** Unacknowledged messages of an unordered subscription, across processes, unless the spec says. */
const DEFAULT_MAX_ACK_PENDING = 1_000;

/**
 * The durable pull consumer of one subscription. Without `deliverPolicy` it starts with the events
 * published after it was created (New), as every Herald channel does: a subscription created again
 * after its deletion starts afresh. (Knative's dispatcher defaults to All, the whole stream; write
 * `deliverPolicy: All` for that.) Ordered subscriptions get `max_ack_pending: 1`:
 * JetStream then hands out one message at a time across every process, and a message handed back
 * (nak) is redelivered before any later one, so order survives rejections and restarts.
 */
export function consumerConfig(
  channel: ChannelTarget<NatsJetStreamChannelSpec>,
  subscription: SubscriptionTarget,
): Partial<ConsumerConfig> {
  const template = channel.spec.consumerConfigTemplate ?? {};
  const name = consumerName(subscription);
  return {
    name,
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: {
      All: DeliverPolicy.All,
      Last: DeliverPolicy.Last,
      New: DeliverPolicy.New,
      ByStartSequence: DeliverPolicy.StartSequence,
      ByStartTime: DeliverPolicy.StartTime,
    }[template.deliverPolicy ?? "New"],
    ...(template.optStartSeq !== undefined ? { opt_start_seq: template.optStartSeq } : {}),
    ...(template.optStartTime !== undefined ? { opt_start_time: template.optStartTime } : {}),
    ack_wait: nanos(toMs(template.ackWait, DEFAULT_ACK_WAIT_MS)),
    max_deliver: -1,
    ...(template.filterSubject !== undefined ? { filter_subject: template.filterSubject } : {}),
    replay_policy: template.replayPolicy === "Original" ? ReplayPolicy.Original : ReplayPolicy.Instant,
    ...(template.sampleFrequency !== undefined ? { sample_freq: template.sampleFrequency } : {}),
    max_ack_pending:
      subscription.ordering === "ordered" ? 1 : (template.maxAckPending ?? DEFAULT_MAX_ACK_PENDING),
  };
}

/** How a subscription pulls: handler slots, messages per pull, pull expiry and the ack wait. */
export interface PullSettings {
  /** Handler calls at once: 1 when ordered, `maxInFlight` otherwise. */
  readonly slots: number;
  /** Messages asked for per pull, at most the free slots. */
  readonly batch: number;
  readonly expiresMs: number;
  readonly ackWaitMs: number;
}

const DEFAULT_FETCH_EXPIRES_MS = 5_000;

export function pullSettings(
  channel: ChannelTarget<NatsJetStreamChannelSpec>,
  subscription: SubscriptionTarget,
): PullSettings {
  const template = channel.spec.consumerConfigTemplate ?? {};
  const slots = subscription.ordering === "ordered" ? 1 : Math.max(1, subscription.maxInFlight);
  return {
    slots,
    batch: Math.min(slots, template.fetchBatchSize ?? slots),
    expiresMs: toMs(template.fetchMaxWait, DEFAULT_FETCH_EXPIRES_MS),
    ackWaitMs: toMs(template.ackWait, DEFAULT_ACK_WAIT_MS),
  };
}
