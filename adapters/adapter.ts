import type { Logger } from "pino";
import type { HeraldConfig } from "../src/config.js";
import type { CloudEvent } from "../src/events/event.js";

/**
 * The contract every channel backend implements (in-memory, Kafka, RabbitMQ, Pub/Sub).
 *
 * Delivery guarantee: at-least-once. An event is "accepted" when `publish` resolves; from then on
 * the backend holds it until every subscription's handler has resolved for it. A handler that
 * rejects, or a process that dies before the handler resolved, means the event is delivered again
 * (to the same subscription) later. Handlers must therefore tolerate duplicates.
 *
 * Ordering: with `ordering: "ordered"` a subscription's handler is called for one event at a time,
 * in the order the backend keeps (the whole channel for memory/RabbitMQ, per partition for Kafka,
 * per ordering key for Pub/Sub); the next call waits until the previous one resolved. With
 * `"unordered"` up to `maxInFlight` handler calls run at once, in no guaranteed order.
 *
 * Close: `SubscriptionHandle.close()` stops taking new events, waits for handler calls in flight,
 * and leaves everything not acknowledged in the backend for the next consumer. `close()` on the
 * adapter closes every subscription and connection it opened.
 */
export interface ChannelAdapter {
  /** The backing channel kind this adapter serves, e.g. "InMemoryChannel", "KafkaChannel". */
  readonly kind: string;

  /**
   * Creates the channel's durable topology (topic, exchange...) if missing. Idempotent; called on
   * every apply and at start. Resolves with backend facts to show in the channel's status.
   */
  createChannel(channel: ChannelTarget): Promise<ChannelBackendStatus>;

  /** Removes the channel's topology (unless configured to keep it) and stops its subscriptions. */
  deleteChannel(channel: ChannelTarget): Promise<void>;

  /**
   * Publishes a batch. Resolves only once the backend has durably accepted every event of it
   * (Kafka acks=all, RabbitMQ publisher confirm, Pub/Sub message id, memory: enqueued). Rejects with
   * a HeraldError: `BackendUnavailable` or `ChannelFull` (both answered 503 by ingress).
   */
  publish(channel: ChannelTarget, events: readonly CloudEvent[]): Promise<void>;

  /**
   * Starts consuming for one subscription. Each subscription sees every event published after it
   * was first created (its durable position survives restarts: consumer group, queue, Pub/Sub
   * subscription). The handler resolving acknowledges the event; rejecting leaves it for redelivery.
   */
  subscribe(
    channel: ChannelTarget,
    subscription: SubscriptionTarget,
    handler: EventHandler,
  ): Promise<SubscriptionHandle>;

  /** Removes a subscription's durable state (queue, consumer group, Pub/Sub subscription). */
  deleteSubscription(channel: ChannelTarget, subscription: SubscriptionTarget): Promise<void>;

  /** Reports whether the backend is reachable now (used for readiness and status). */
  isReady(): Promise<boolean>;

  /** Closes every subscription and connection. Events not yet acknowledged stay in the backend. */
  close(): Promise<void>;
}

/** The channel a call is about. `spec` is the backing resource's spec (e.g. KafkaChannel's). */
export interface ChannelTarget {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly spec: Readonly<Record<string, unknown>>;
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

export interface AdapterContext {
  readonly config: HeraldConfig;
  readonly logger: Logger;
}

export interface AdapterFactory {
  /** The backing channel kind, e.g. "KafkaChannel". */
  readonly kind: string;
  create(context: AdapterContext): ChannelAdapter;
}

/** The type of the CloudEvent that wraps a backend message which is not a CloudEvent. */
export const UNDECODABLE_EVENT_TYPE = "dev.herald.channel.undecodable";
