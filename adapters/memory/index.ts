import { HeraldError } from "../../src/errors.js";
import type { CloudEvent } from "../../src/events/event.js";
import type {
  AdapterFactory,
  ChannelAdapter,
  ChannelTarget,
  EventHandler,
  SubscriptionHandle,
  SubscriptionTarget,
} from "../adapter.js";

/**
 * The embedded default backend: a bounded in-process queue per subscription.
 *
 * Guarantees: `publish` resolves once the event is queued for every current subscription of the
 * channel, or rejects with ChannelFull (503 at ingress) when any of those queues is at capacity, so
 * nothing is ever dropped silently. Events live in memory only: a process restart loses what was
 * queued, which is what "in-memory" means (use a Kafka, RabbitMQ or Pub/Sub channel for durability).
 * A subscription's queue belongs to the subscription, not to its consumer, so re-subscribing
 * (after a Subscription changed) continues with the events already queued.
 */
class SubscriptionQueue {
  readonly events: CloudEvent[] = [];
  head = 0;
  handler: EventHandler | undefined;
  ordering: SubscriptionTarget["ordering"] = "ordered";
  maxInFlight = 1;
  accepts: SubscriptionTarget["accepts"];
  inFlight = 0;
  private idle: (() => void)[] = [];

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.events.length - this.head;
  }

  push(event: CloudEvent): void {
    this.events.push(event);
    this.pump();
  }

  /** Starts as many handler calls as the ordering mode allows. */
  pump(): void {
    const limit = this.ordering === "ordered" ? 1 : this.maxInFlight;
    while (this.handler && this.inFlight < limit && this.head < this.events.length) {
      const event = this.events[this.head]!;
      this.head++;
      if (this.head > 1024 && this.head * 2 > this.events.length) {
        this.events.splice(0, this.head);
        this.head = 0;
      }
      this.run(this.handler, event);
    }
    if (this.inFlight === 0) for (const resolve of this.idle.splice(0)) resolve();
  }

  private run(handler: EventHandler, event: CloudEvent): void {
    this.inFlight++;
    handler(event, {}).then(
      () => {
        this.inFlight--;
        this.pump();
      },
      () => {
        // Not acknowledged: put it back at the front so it is delivered again, keeping order.
        this.inFlight--;
        if (this.head > 0) this.events[--this.head] = event;
        else this.events.unshift(event);
        this.pump();
      },
    );
  }

  /** Detaches the consumer and waits for its calls in flight. */
  async detach(): Promise<void> {
    this.handler = undefined;
    if (this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }
}

const NONE: readonly CloudEvent[] = [];

class MemoryChannelAdapter implements ChannelAdapter {
  readonly kind = "InMemoryChannel";
  private readonly channels = new Map<string, Map<string, SubscriptionQueue>>();

  constructor(private readonly capacity: number) {}

  private queuesOf(channel: ChannelTarget): Map<string, SubscriptionQueue> {
    const key = `${channel.namespace}/${channel.name}`;
    let queues = this.channels.get(key);
    if (!queues) {
      queues = new Map();
      this.channels.set(key, queues);
    }
    return queues;
  }

  async createChannel(channel: ChannelTarget) {
    this.queuesOf(channel);
    return {};
  }

  async deleteChannel(channel: ChannelTarget): Promise<void> {
    const queues = this.channels.get(`${channel.namespace}/${channel.name}`);
    if (!queues) return;
    this.channels.delete(`${channel.namespace}/${channel.name}`);
    await Promise.all([...queues.values()].map((queue) => queue.detach()));
  }

  async publish(channel: ChannelTarget, events: readonly CloudEvent[]): Promise<void> {
    const queues = this.channels.get(`${channel.namespace}/${channel.name}`);
    if (!queues)
      throw new HeraldError("ChannelNotFound", `channel ${channel.namespace}/${channel.name} is not running`);
    // A subscription's filter (a Trigger's) is applied here, so a filtered-out event never takes a
    // queue slot or a handler call. All or nothing: every queue must have room for its share of the
    // batch before any event is queued.
    const shares: [SubscriptionQueue, readonly CloudEvent[]][] = [];
    for (const queue of queues.values()) {
      const { accepts } = queue;
      // A single event (the usual ingress request) is checked without allocating a new array.
      const share = !accepts
        ? events
        : events.length === 1
          ? accepts(events[0]!)
            ? events
            : NONE
          : events.filter((event) => accepts(event));
      if (share.length === 0) continue;
      if (queue.size + share.length > queue.capacity) {
        throw new HeraldError(
          "ChannelFull",
          `channel ${channel.namespace}/${channel.name} is full (${queue.capacity} events waiting for a subscriber)`,
        );
      }
      shares.push([queue, share]);
    }
    for (const [queue, share] of shares) for (const event of share) queue.push(event);
  }

  async subscribe(
    channel: ChannelTarget,
    subscription: SubscriptionTarget,
    handler: EventHandler,
  ): Promise<SubscriptionHandle> {
    const queues = this.queuesOf(channel);
    let queue = queues.get(subscription.uid);
    if (!queue) {
      queue = new SubscriptionQueue(this.capacity);
      queues.set(subscription.uid, queue);
    }
    const attached = queue;
    attached.handler = handler;
    attached.ordering = subscription.ordering;
    attached.maxInFlight = subscription.maxInFlight;
    attached.accepts = subscription.accepts;
    attached.pump();
    return {
      close: async () => {
        if (attached.handler === handler) await attached.detach();
      },
    };
  }

  async deleteSubscription(channel: ChannelTarget, subscription: SubscriptionTarget): Promise<void> {
    const queues = this.channels.get(`${channel.namespace}/${channel.name}`);
    const queue = queues?.get(subscription.uid);
    if (!queue) return;
    queues!.delete(subscription.uid);
    await queue.detach();
  }

  async isReady(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.channels.values()].flatMap((queues) => [...queues.values()].map((q) => q.detach())),
    );
  }
}

export const memoryChannelAdapter: AdapterFactory = {
  kind: "InMemoryChannel",
  create: ({ config }) => new MemoryChannelAdapter(config.memory.capacity),
};
