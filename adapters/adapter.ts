import type { Logger } from "pino";
import type { ConfigSlice } from "../src/config-slice.js";
import { backendUnavailable, HeraldError } from "../src/errors.js";
import type { CloudEvent } from "../src/events/event.js";
import type { KindNames } from "../src/resources/kind.js";
import type { TopologyKind } from "./topology-kind.js";
import type { z } from "zod";

/**
 * The contract every channel backend implements (in-memory, log, Kafka, RabbitMQ, Pub/Sub, NATS).
 * A backend is one folder under `adapters/` exporting a `ChannelPlugin` (below) and one line in
 * `adapters/index.ts`; `test/adapters/conformance.ts` holds every backend to the guarantees here.
 *
 * Delivery guarantee: at-least-once. An event is "accepted" when `publish` resolves; from then on
 * the backend holds it until every subscription's handler has resolved for it. A handler that
 * rejects, or a process that dies before the handler resolved, means the event is delivered again
 * (to the same subscription) later, no sooner than `REDELIVERY_DELAY_MS` after the rejection (never
 * a hot loop). Handlers must therefore tolerate duplicates.
 *
 * Ordering: with `ordering: "ordered"` a subscription's handler is called for one event at a time,
 * in the order the backend keeps (the whole channel for memory/RabbitMQ/NATS, per partition for
 * Kafka, per ordering key for Pub/Sub); the next call waits until the previous one resolved, so a
 * rejected event is retried before any later one. With `"unordered"` up to `maxInFlight` handler
 * calls run at once, in no guaranteed order.
 *
 * Sharing: a subscription's durable state (consumer group, queue, Pub/Sub subscription, durable
 * consumer) is named after the subscription's namespace and name, never its uid. Two Herald
 * processes that run the same subscription on the same backend therefore share its work: each
 * event is handled by one of them (competing consumers). The in-memory backend lives in one process.
 *
 * Close: `SubscriptionHandle.close()` stops taking new events, waits for handler calls in flight,
 * and leaves everything not acknowledged in the backend for the next consumer, so re-subscribing
 * continues where the subscription left. `close()` on the adapter closes every subscription and
 * connection it opened.
 */
export interface ChannelAdapter<Spec = unknown> {
  /** The backing channel kind this adapter serves, e.g. "InMemoryChannel", "KafkaChannel". */
  readonly kind: string;

  /**
   * Creates the channel's durable topology (topic, exchange...) if missing. Idempotent; called on
   * every apply and at start. Resolves with backend facts to show in the channel's status.
   */
  createChannel(channel: ChannelTarget<Spec>): Promise<ChannelBackendStatus>;

  /**
   * Removes the channel's topology (unless configured to keep it) and stops its subscriptions.
   * Other channels of the same adapter keep working, and a channel created afterwards takes events
   * as soon as `createChannel` resolved.
   */
  deleteChannel(channel: ChannelTarget<Spec>): Promise<void>;

  /**
   * Publishes a batch. Resolves only once the backend has durably accepted every event of it
   * (Kafka acks=all, RabbitMQ publisher confirm, Pub/Sub message id, NATS JetStream ack, memory:
   * enqueued). Rejects with a HeraldError: `BackendUnavailable` (also when `options.signal` aborts
   * first: the caller's deadline) or `ChannelFull`, both answered 503 by ingress; never drops silently.
   */
  publish(
    channel: ChannelTarget<Spec>,
    events: readonly CloudEvent[],
    options: PublishOptions,
  ): Promise<void>;

  /**
   * Starts consuming for one subscription. Each subscription sees every event published after it
   * was first created (its durable position survives restarts). The handler resolving acknowledges
   * the event; rejecting leaves it for redelivery. A message that is not a CloudEvent is handed over
   * wrapped by `undecodableEvent` (the dispatcher dead-letters it), never dropped.
   */
  subscribe(
    channel: ChannelTarget<Spec>,
    subscription: SubscriptionTarget,
    handler: EventHandler,
  ): Promise<SubscriptionHandle>;

  /** Removes a subscription's durable state (queue, consumer group, Pub/Sub subscription). */
  deleteSubscription(channel: ChannelTarget<Spec>, subscription: SubscriptionTarget): Promise<void>;

  /** Whether the backend is reachable now; feeds `/readyz` and each channel's BackendReady condition. */
  isReady(): Promise<boolean>;

  /**
   * Optional: why the backend is not ready, when it can say more than that it does not answer (the
   * disk holding a log is full); the message of its channels' BackendReady condition and of `/readyz`.
   */
  readinessMessage?(): string | undefined;

  /**
   * Optional: whether a channel's subscriptions can be replayed, and from which kinds of position.
   * A backend without `seek` cannot replay any channel; one with it may still refuse a channel (a
   * RabbitMQ classic or quorum queue), saying why. Shown in each Subscription's status.
   */
  replaySupport?(channel: ChannelTarget<Spec>): ReplaySupport;

  /**
   * Optional replay: moves the subscription's durable position so that its next events are the ones
   * the backend accepted from `position` on (`beginning`: the oldest it still keeps; `time`: the first
   * accepted at or after it; `offset`: the backend's own position, see each backend). It works on a
   * running subscription (the consumer continues from the new position) and on one that is not
   * running here (the next `subscribe` starts there). Events the backend had accepted before the seek
   * are handed over again with their ids and attributes, plus the extension REPLAY_EXTENSION set to
   * `replayMark(position)`; events published after the seek are not marked. Events in flight when
   * the seek happens may be handed over once more (at-least-once).
   *
   * Rejects with a HeraldError `BadRequest` naming `from` when `replaySupport` refuses the channel or
   * that kind of position, `BackendUnavailable` when the backend does not answer.
   */
  seek?(
    channel: ChannelTarget<Spec>,
    subscription: SubscriptionTarget,
    position: ReplayPosition,
  ): Promise<SeekResult>;

  /** Closes every subscription and connection. Events not yet acknowledged stay in the backend. */
  close(): Promise<void>;
}

/** Where a replay starts. */
export type ReplayPosition =
  | { readonly from: "beginning" }
  | { readonly from: "time"; readonly time: Date }
  /** A position in the backend's own terms: a LogChannel byte position, a Kafka or RabbitMQ stream offset, a NATS stream sequence. */
  | { readonly from: "offset"; readonly offset: number };

export type ReplaySupport =
  | { readonly replayable: true; readonly from: readonly ReplayPosition["from"][] }
  | { readonly replayable: false; readonly reason: string };

/** Backend facts about a seek, shown to the caller, e.g. `{ partitions: 3 }`. */
export type SeekResult = Readonly<Record<string, string | number>>;

/**
 * The CloudEvents extension a replayed event carries: the start of the replay that handed it over
 * again (`beginning`, an RFC 3339 time, or `offset:<n>`). Its id and other attributes are the ones
 * it was published with.
 */
export const REPLAY_EXTENSION = "heraldreplay";

/** The value of REPLAY_EXTENSION for a replay from `position`. */
export function replayMark(position: ReplayPosition): string {
  switch (position.from) {
    case "beginning":
      return "beginning";
    case "time":
      return position.time.toISOString();
    case "offset":
      return `offset:${position.offset}`;
  }
}

/** `event` as a replay hands it over: the same event, marked with REPLAY_EXTENSION. */
export function markReplayed(event: CloudEvent, mark: string): CloudEvent {
  return { ...event, attributes: { ...event.attributes, [REPLAY_EXTENSION]: mark } };
}

/** The refusal of a replay the channel cannot do (see `ChannelAdapter.seek`). */
export function replayRefused(
  backend: string,
  channel: { namespace: string; name: string },
  support: ReplaySupport,
  position: ReplayPosition,
): HeraldError | undefined {
  if (support.replayable && support.from.includes(position.from)) return undefined;
  const reason = support.replayable
    ? `it replays from ${support.from.join(", ")}, not from ${position.from === "time" ? "a time" : position.from === "offset" ? "an offset" : "the beginning"}`
    : support.reason;
  return new HeraldError(
    "BadRequest",
    `from: the ${backend} ${channel.namespace}/${channel.name} cannot replay: ${reason}`,
    { field: "from" },
  );
}

export interface PublishOptions {
  /** Aborted when the caller stops waiting (ingress's publish deadline, shutdown). */
  readonly signal: AbortSignal;
  /**
   * When ingress stops waiting, as a `performance.now()` time; `signal` aborts then too. Ingress
   * creates its signal on first read, so an adapter that only needs to know whether the publish is
   * late compares this instead and costs no AbortController and timer per publish.
   */
  readonly deadline?: number | undefined;
}

/** Whether the caller of a publish stopped waiting: past its deadline, or its signal aborted. */
export function isPublishLate(options: PublishOptions): boolean {
  return options.deadline !== undefined ? performance.now() >= options.deadline : options.signal.aborted;
}

/**
 * The channel a call is about. `spec` is the backing resource's spec, validated and defaulted by the
 * plug-in's own schema at apply: adapters never re-validate it.
 */
export interface ChannelTarget<Spec = unknown> {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly spec: Spec;
}

export interface SubscriptionTarget {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly ordering: "ordered" | "unordered";
  /** Upper bound of concurrent handler calls when unordered (and the prefetch/flow-control size). */
  readonly maxInFlight: number;
  /**
   * The subscription's current filter (a Trigger's), when it has one. A backend that routes in
   * process may skip events it rejects without calling the handler; the handler applies it anyway.
   */
  readonly accepts?: ((event: CloudEvent) => boolean) | undefined;
}

export interface DeliveryContext {
  /**
   * Set when the backend held a message that is not a CloudEvent: `event` then wraps its raw bytes
   * (type `dev.herald.channel.undecodable`) and the dispatcher sends it to the dead-letter sink
   * rather than to the subscriber, so nothing is lost silently.
   */
  readonly undecodable?: string | undefined;
  /**
   * Lets the handler keep the event from being redelivered while it is still working on it (for
   * backends with an ack deadline). Called by the dispatcher before each retry wait.
   */
  readonly extendDeadline?: ((ms: number) => void) | undefined;
}

export type EventHandler = (event: CloudEvent, context: DeliveryContext) => Promise<void>;

export interface SubscriptionHandle {
  close(): Promise<void>;
}

/** Backend facts shown in the channel's status, e.g. `{ topic: "herald.default.orders" }`. */
export type ChannelBackendStatus = Readonly<Record<string, string | number>>;

export interface AdapterContext<Config> {
  /** The plug-in's own configuration slice, validated. */
  readonly config: Config;
  readonly logger: Logger;
  /**
   * Herald's data directory: where a backend that keeps files keeps them (LogChannel: under
   * `channels/`), unless its own settings name another place. Herald always sets it; an adapter built
   * by hand (in a test) may leave it out when its backend keeps no files.
   */
  readonly dataDir?: string | undefined;
  /**
   * Tells Herald that a publish was accepted by a channel that has no subscription, so no one will
   * receive its events (Herald counts them in `herald_events_unconsumed_total` and logs it). A
   * backend that keeps events for subscriptions created later need not call it.
   */
  readonly onUnconsumed?:
    ((channel: { namespace: string; name: string }, events: number) => void) | undefined;
}

/**
 * A channel backend as Herald loads it: the kind it serves (names and spec schema; Herald adds
 * Knative's `spec.delivery`), its configuration slice, the Broker classes that run on it, and the
 * factory of its adapter. Adapters are created on first use, so a Herald with no Kafka channel
 * never connects to Kafka.
 */
export interface ChannelPlugin<Spec = unknown, Config = unknown> {
  readonly kind: KindNames;
  readonly specSchema: z.ZodType<Spec>;
  readonly config?: ConfigSlice<Config> | undefined;
  /** Values of the `eventing.knative.dev/broker.class` annotation whose Brokers run on this kind. */
  readonly brokerClasses?: readonly string[] | undefined;
  /** Kinds declared on the backend besides channels (RabbitMQ's Queue...); see topology-kind.ts. */
  readonly topologyKinds?: readonly TopologyKind[] | undefined;
  create(context: AdapterContext<Config>): ChannelAdapter<Spec>;
}

/**
 * Declares a channel plug-in, typed by its own Spec and Config; the kernel hands each exactly what the
 * plug-in's schemas produced, so the plug-in list holds them as `ChannelPlugin`.
 */
export function defineChannelPlugin<Spec, Config>(plugin: ChannelPlugin<Spec, Config>): ChannelPlugin {
  return plugin;
}

/** The type of the CloudEvent that wraps a backend message which is not a CloudEvent. */
export const UNDECODABLE_EVENT_TYPE = "dev.herald.channel.undecodable";

/** The least time between a handler's rejection and the redelivery of that event. */
export const REDELIVERY_DELAY_MS = 1_000;

/**
 * Wraps a backend message that is not a CloudEvent, for the handler (see DeliveryContext). `id`
 * identifies the message in the backend (offset, delivery tag...), `source` the channel.
 */
export function undecodableEvent(message: {
  readonly id: string;
  readonly source: string;
  readonly body: Uint8Array | undefined;
  readonly reason: string;
}): { event: CloudEvent; context: DeliveryContext } {
  return {
    event: {
      attributes: {
        specversion: "1.0",
        id: message.id,
        source: message.source,
        type: UNDECODABLE_EVENT_TYPE,
        datacontenttype: "application/octet-stream",
      },
      data: toBuffer(message.body),
    },
    context: { undecodable: message.reason },
  };
}

function toBuffer(body: Uint8Array | undefined): Buffer | undefined {
  if (body === undefined || Buffer.isBuffer(body)) return body;
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/** Knative's source URI of a channel, e.g. `/apis/messaging.knative.dev/v1beta1/namespaces/ns/kafkachannels/c`. */
export function channelSource(kind: KindNames, channel: { namespace: string; name: string }): string {
  return `/apis/${kind.group}/${kind.versions[0]}/namespaces/${channel.namespace}/${kind.plural}/${channel.name}`;
}

/**
 * Waits for `work` until `signal` aborts, then rejects with BackendUnavailable naming the backend.
 * Adapters wrap their backend's acknowledgement with it; `onAbort` may withdraw the pending work.
 */
export async function untilAborted<T>(
  backend: string,
  work: Promise<T>,
  signal: AbortSignal,
  onAbort?: () => void,
): Promise<T> {
  if (signal.aborted) {
    onAbort?.();
    work.catch(() => undefined);
    throw backendUnavailable(backend, "no acknowledgement before the publish deadline");
  }
  let abort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    abort = () => {
      onAbort?.();
      reject(backendUnavailable(backend, "no acknowledgement before the publish deadline"));
    };
    signal.addEventListener("abort", abort, { once: true });
  });
  work.catch(() => undefined);
  try {
    return await Promise.race([work, aborted]);
  } catch (error) {
    if (error instanceof HeraldError) throw error;
    throw backendUnavailable(backend, error);
  } finally {
    signal.removeEventListener("abort", abort!);
  }
}
