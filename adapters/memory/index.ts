import { backendUnavailable, HeraldError } from "../../src/errors.js";
import type { CloudEvent } from "../../src/events/event.js";
import {
  defineChannelPlugin,
  type AdapterContext,
  type ChannelAdapter,
  isPublishLate,
  type ChannelBackendStatus,
  type ChannelTarget,
  type EventHandler,
  type PublishOptions,
  type SubscriptionHandle,
  type SubscriptionTarget,
} from "../adapter.js";
import type { Logger } from "pino";
import { eventBytes, MemoryBudget, type HeldEvent } from "./budget.js";
import { memoryConfig, type MemoryConfig } from "./config.js";
import { SubscriptionQueue } from "./queue.js";
import { inMemoryChannelNames, inMemoryChannelSpecSchema, type InMemoryChannelSpec } from "./spec.js";

/**
 * InMemoryChannel: the embedded default backend, a bounded in-process queue per subscription.
 *
 * Guarantees: `publish` resolves once the event is queued for every current subscription of the
 * channel, or rejects with ChannelFull (503 at ingress) when any of those queues is at capacity
 * (`memory.capacity` events or `memory.maxBytes` bytes, in flight included) or every in-memory
 * channel together holds `memory.totalMaxBytes` bytes, so nothing is ever dropped silently. An event
 * larger than either byte limit can never be queued and is refused with PayloadTooLarge (413). Events live in memory only: a process restart loses what was
 * queued, which is what "in-memory" means (use a Kafka, RabbitMQ, Pub/Sub or NATS channel for
 * durability), and two processes never share a subscription. A subscription's queue is named after
 * its namespace and name and belongs to the subscription, not to its consumer, so re-subscribing
 * continues with the events already queued; `deleteSubscription` drops them. A rejected event is
 * redelivered after REDELIVERY_DELAY_MS (see SubscriptionQueue).
 */
const NO_HELD: readonly HeldEvent[] = [];

function channelKey(channel: { namespace: string; name: string }): string {
  return `${channel.namespace}/${channel.name}`;
}

class MemoryChannelAdapter implements ChannelAdapter<InMemoryChannelSpec> {
  readonly kind = inMemoryChannelNames.kind;
  /** Channel → its subscriptions' queues, by subscription namespace/name. */
  private readonly channels = new Map<string, Map<string, SubscriptionQueue>>();

  private readonly budget: MemoryBudget;

  constructor(
    private readonly config: MemoryConfig,
    private readonly logger: Logger,
    private readonly onUnconsumed: AdapterContext<MemoryConfig>["onUnconsumed"],
  ) {
    this.budget = new MemoryBudget(config.totalMaxBytes);
  }

  private queuesOf(channel: ChannelTarget<InMemoryChannelSpec>): Map<string, SubscriptionQueue> {
    const key = channelKey(channel);
    let queues = this.channels.get(key);
    if (!queues) {
      queues = new Map();
      this.channels.set(key, queues);
    }
    return queues;
  }

  async createChannel(channel: ChannelTarget<InMemoryChannelSpec>): Promise<ChannelBackendStatus> {
    this.queuesOf(channel);
    return {};
  }

  async deleteChannel(channel: ChannelTarget<InMemoryChannelSpec>): Promise<void> {
    const queues = this.channels.get(channelKey(channel));
    if (!queues) return;
    this.channels.delete(channelKey(channel));
    await Promise.all([...queues.values()].map((queue) => queue.discard()));
  }

  async publish(
    channel: ChannelTarget<InMemoryChannelSpec>,
    events: readonly CloudEvent[],
    options: PublishOptions,
  ): Promise<void> {
    // The caller has stopped waiting: queuing now would accept events it answers 503 for.
    if (isPublishLate(options)) throw backendUnavailable("InMemoryChannel", "the publish deadline passed");
    const queues = this.channels.get(channelKey(channel));
    if (!queues) throw new HeraldError("ChannelNotFound", `channel ${channelKey(channel)} is not running`);
    // Accepted, as Knative's in-memory channel does, but said: no subscription will ever see them.
    if (queues.size === 0 && events.length > 0) this.onUnconsumed?.(channel, events.length);
    // A subscription's filter (a Trigger's) is applied here, so a filtered-out event never takes a
    // queue slot or a handler call. All or nothing: every queue must have room for its share of the
    // batch, and the adapter for the batch, before any event is queued.
    const held = events.map((event) => this.hold(event));
    const shares: [SubscriptionQueue, readonly HeldEvent[]][] = [];
    let added = 0;
    for (const queue of queues.values()) {
      const { accepts } = queue;
      // A single event (the usual ingress request) is checked without allocating a new array.
      const share = !accepts
        ? held
        : held.length === 1
          ? accepts(held[0]!.event)
            ? held
            : NO_HELD
          : held.filter(({ event }) => accepts(event));
      if (share.length === 0) continue;
      if (queue.size + share.length > queue.capacity) {
        throw new HeraldError(
          "ChannelFull",
          `channel ${channelKey(channel)} is full (${queue.capacity} events waiting for a subscriber)`,
        );
      }
      let bytes = 0;
      for (const one of share) {
        bytes += one.bytes;
        // Counted once for the adapter however many queues take it.
        if (one.holders === 0) {
          one.holders = -1;
          added += one.bytes;
        }
      }
      if (queue.bytes + bytes > queue.maxBytes) {
        throw new HeraldError(
          "ChannelFull",
          `channel ${channelKey(channel)} is full (${queue.bytes} bytes of events held for a subscriber, the limit is ${queue.maxBytes}: HERALD_MEMORY_MAX_BYTES)`,
        );
      }
      shares.push([queue, share]);
    }
    if (!this.budget.hasRoomFor(added)) {
      throw new HeraldError(
        "ChannelFull",
        `in-memory channels are full (${this.budget.usedBytes} bytes of events held, the limit is ${this.budget.maxBytes}: HERALD_MEMORY_TOTAL_MAX_BYTES)`,
      );
    }
    for (const one of held) one.holders = 0;
    for (const [queue, share] of shares) for (const one of share) queue.push(one);
  }

  /** An event about to be queued, refused when it could never fit (PayloadTooLarge). */
  private hold(event: CloudEvent): HeldEvent {
    const bytes = eventBytes(event);
    const limit = Math.min(this.config.maxBytes, this.config.totalMaxBytes);
    if (bytes > limit) {
      throw new HeraldError(
        "PayloadTooLarge",
        `event ${String(event.attributes.id)} is ${bytes} bytes, more than an in-memory channel holds for a subscription (${limit} bytes: HERALD_MEMORY_MAX_BYTES)`,
      );
    }
    return { event, bytes, holders: 0 };
  }

  async subscribe(
    channel: ChannelTarget<InMemoryChannelSpec>,
    subscription: SubscriptionTarget,
    handler: EventHandler,
  ): Promise<SubscriptionHandle> {
    const queues = this.queuesOf(channel);
    const key = channelKey(subscription);
    let queue = queues.get(key);
    if (!queue) {
      queue = new SubscriptionQueue(this.config.capacity, this.config.maxBytes, this.budget);
      queues.set(key, queue);
    }
    const attached = queue;
    attached.attach(handler, subscription);
    return {
      close: async () => {
        if (attached.isAttached(handler)) await attached.detach();
      },
    };
  }

  async deleteSubscription(
    channel: ChannelTarget<InMemoryChannelSpec>,
    subscription: SubscriptionTarget,
  ): Promise<void> {
    const queues = this.channels.get(channelKey(channel));
    const queue = queues?.get(channelKey(subscription));
    if (!queues || !queue) return;
    queues.delete(channelKey(subscription));
    await queue.discard();
  }

  /** In process: always reachable. */
  async isReady(): Promise<boolean> {
    return true;
  }

  /**
   * Stops every consumer. What is still queued is lost with the process: each channel that held
   * events says how many, per subscription, in one warning.
   */
  async close(): Promise<void> {
    await Promise.all(
      [...this.channels.values()].flatMap((queues) => [...queues.values()].map((queue) => queue.detach())),
    );
    for (const [channel, queues] of this.channels) {
      const subscriptions: Record<string, number> = {};
      let discarded = 0;
      for (const [subscription, queue] of queues) {
        if (queue.size === 0) continue;
        subscriptions[subscription] = queue.size;
        discarded += queue.size;
      }
      if (discarded > 0)
        this.logger.warn(
          { channel, discarded, subscriptions },
          "in-memory events discarded at shutdown: they were not delivered and do not survive a restart",
        );
    }
  }
}

export const memoryChannelPlugin = defineChannelPlugin({
  kind: inMemoryChannelNames,
  specSchema: inMemoryChannelSpecSchema,
  config: memoryConfig,
  create: ({ config, logger, onUnconsumed }) => new MemoryChannelAdapter(config, logger, onUnconsumed),
});
