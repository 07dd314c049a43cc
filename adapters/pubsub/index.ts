import { PubSub, type Topic } from "@google-cloud/pubsub";
import type { Logger } from "pino";
import type { HeraldConfig } from "../../src/config.js";
import { backendUnavailable } from "../../src/errors.js";
import { attributeString, type CloudEvent } from "../../src/events/event.js";
import {
  pubsubChannelGroup,
  pubsubChannelKind,
  pubsubChannelPlural,
  pubsubChannelVersion,
} from "../../src/resources/pubsub-channel.js";
import type {
  AdapterFactory,
  ChannelAdapter,
  ChannelBackendStatus,
  ChannelTarget,
  EventHandler,
  SubscriptionHandle,
  SubscriptionTarget,
} from "../adapter.js";
import { encodeEvent } from "./binding.js";
import { pubsubClientConfig } from "./client.js";
import { NOT_FOUND, PubSubConsumer } from "./consumer.js";
import { isHeraldSubscription, resolveTopology, subscriptionName, type ChannelTopology } from "./topology.js";

/** gRPC status ALREADY_EXISTS. */
const ALREADY_EXISTS = 6;
const BACKEND = "Pub/Sub";

interface KnownSubscription {
  readonly name: string;
  readonly ordered: boolean;
  consumer?: PubSubConsumer | undefined;
}

interface ChannelState {
  topology: ChannelTopology;
  topic: Topic;
  /** Every Pub/Sub subscription this process created or consumed for the channel, by Herald uid. */
  readonly subscriptions: Map<string, KnownSubscription>;
  recreating?: Promise<void> | undefined;
}

function codeOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "number" ? code : undefined;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * PubSubChannel on Google Cloud Pub/Sub (or its emulator).
 *
 * Topology: one topic per channel, one Pub/Sub subscription per Herald Subscription (named after
 * its uid, so a re-created Subscription starts afresh), created with the channel's ack deadline,
 * retention and message ordering. Both are deleted with their resources unless
 * `pubsub.keepTopologyOnDelete`.
 *
 * Publish resolves when Pub/Sub returned a message id for every event of the batch, and rejects
 * with BackendUnavailable when that takes longer than 5 s or fails. When the topic is gone
 * (NOT_FOUND, e.g. the emulator restarted and forgot it), the topic and every subscription this
 * process knows are re-created and the batch is published again. A batch answered
 * BackendUnavailable may still reach Pub/Sub later through the client library's own retries: a
 * sender that retries then causes a duplicate, which at-least-once delivery allows.
 */
class PubSubChannelAdapter implements ChannelAdapter {
  readonly kind = pubsubChannelKind;
  private readonly client: PubSub;
  private readonly channels = new Map<string, ChannelState>();
  private readonly logger: Logger;

  constructor(
    private readonly config: HeraldConfig["pubsub"],
    logger: Logger,
    /** Longest a publish (and any topology call) may take before it is answered BackendUnavailable. */
    private readonly callTimeoutMs: number,
  ) {
    this.logger = logger;
    const options = pubsubClientConfig(config);
    this.client = new PubSub(options);
  }

  private stateOf(channel: ChannelTarget): ChannelState {
    const topology = resolveTopology(channel, this.config.projectId);
    let state = this.channels.get(topology.key);
    if (!state || state.topology.topicName !== topology.topicName) {
      state = { topology, topic: this.topicFor(topology), subscriptions: state?.subscriptions ?? new Map() };
      this.channels.set(topology.key, state);
    } else if (state.topology.enableMessageOrdering !== topology.enableMessageOrdering) {
      state.topic = this.topicFor(topology);
    }
    state.topology = topology;
    return state;
  }

  private topicFor(topology: ChannelTopology): Topic {
    return this.client.topic(topology.topicName, {
      messageOrdering: topology.enableMessageOrdering,
      batching: { maxMilliseconds: 5 },
    });
  }

  private async createTopic(topology: ChannelTopology): Promise<void> {
    try {
      await this.client.createTopic(topology.topicName);
    } catch (error) {
      if (codeOf(error) !== ALREADY_EXISTS) throw error;
    }
  }

  private async createSubscription(topology: ChannelTopology, known: KnownSubscription): Promise<void> {
    const options = {
      ackDeadlineSeconds: topology.ackDeadlineSeconds,
      enableMessageOrdering: topology.enableMessageOrdering || known.ordered,
      ...(topology.retentionSeconds
        ? { messageRetentionDuration: { seconds: topology.retentionSeconds } }
        : {}),
    };
    const create = () => this.client.topic(topology.topicName).createSubscription(known.name, options);
    try {
      await create();
    } catch (error) {
      if (codeOf(error) === ALREADY_EXISTS) return;
      if (codeOf(error) !== NOT_FOUND) throw error;
      await this.createTopic(topology);
      await create().catch((again: unknown) => {
        if (codeOf(again) !== ALREADY_EXISTS) throw again;
      });
    }
  }

  /** Re-creates the topic and every known subscription, once at a time per channel. */
  private recreate(state: ChannelState): Promise<void> {
    state.recreating ??= (async () => {
      this.logger.warn({ topic: state.topology.topicName }, "Pub/Sub topology is gone, re-creating it");
      await this.createTopic(state.topology);
      for (const known of state.subscriptions.values()) await this.createSubscription(state.topology, known);
    })().finally(() => {
      state.recreating = undefined;
    });
    return state.recreating;
  }

  async createChannel(channel: ChannelTarget): Promise<ChannelBackendStatus> {
    const state = this.stateOf(channel);
    try {
      await withTimeout(this.createTopic(state.topology), this.callTimeoutMs, "creating topic");
    } catch (error) {
      throw backendUnavailable(BACKEND, error);
    }
    return { project: state.topology.project, topic: state.topology.topicName.split("/").pop()! };
  }

  async deleteChannel(channel: ChannelTarget): Promise<void> {
    const state = this.stateOf(channel);
    this.channels.delete(state.topology.key);
    await Promise.all([...state.subscriptions.values()].map((known) => known.consumer?.close()));
    if (this.config.keepTopologyOnDelete) return;
    try {
      await withTimeout(this.deleteTopology(state), this.callTimeoutMs * 2, "deleting topology");
    } catch (error) {
      throw backendUnavailable(BACKEND, error);
    }
  }

  private async deleteTopology(state: ChannelState): Promise<void> {
    const names = new Set([...state.subscriptions.values()].map((known) => known.name));
    try {
      const [attached] = await state.topic.getSubscriptions();
      for (const subscription of attached)
        if (isHeraldSubscription(subscription.name)) names.add(subscription.name);
    } catch (error) {
      if (codeOf(error) !== NOT_FOUND) throw error;
    }
    await Promise.all(
      [...names].map((name) => this.deleteIfPresent(() => this.client.subscription(name).delete())),
    );
    await this.deleteIfPresent(() => this.client.topic(state.topology.topicName).delete());
  }

  private async deleteIfPresent(remove: () => Promise<unknown>): Promise<void> {
    try {
      await remove();
    } catch (error) {
      if (codeOf(error) !== NOT_FOUND) throw error;
    }
  }

  async publish(channel: ChannelTarget, events: readonly CloudEvent[]): Promise<void> {
    if (events.length === 0) return;
    const state = this.stateOf(channel);
    const deadline = Date.now() + this.callTimeoutMs;
    try {
      try {
        await withTimeout(this.publishBatch(state, events), this.callTimeoutMs, "publishing");
      } catch (error) {
        if (codeOf(error) !== NOT_FOUND) throw error;
        const remaining = () => Math.max(1, deadline - Date.now());
        await withTimeout(this.recreate(state), remaining(), "re-creating topology");
        await withTimeout(this.publishBatch(state, events), remaining(), "publishing");
      }
    } catch (error) {
      throw backendUnavailable(BACKEND, error);
    }
  }

  private async publishBatch(state: ChannelState, events: readonly CloudEvent[]): Promise<void> {
    const { topic } = state;
    const ordering = state.topology.enableMessageOrdering;
    const keys = new Set<string>();
    const sent = events.map((event) => {
      const { data, attributes } = encodeEvent(event);
      const orderingKey = ordering ? attributeString(event, "partitionkey") : undefined;
      if (orderingKey) keys.add(orderingKey);
      return topic.publishMessage(orderingKey ? { data, attributes, orderingKey } : { data, attributes });
    });
    try {
      await Promise.all(sent);
    } catch (error) {
      // A failed publish pauses its ordering key in the client library until it is resumed.
      for (const key of keys) topic.resumePublishing(key);
      throw error;
    }
  }

  async subscribe(
    channel: ChannelTarget,
    subscription: SubscriptionTarget,
    handler: EventHandler,
  ): Promise<SubscriptionHandle> {
    const state = this.stateOf(channel);
    const previous = state.subscriptions.get(subscription.uid);
    await previous?.consumer?.close();
    const known: KnownSubscription = {
      name: subscriptionName(state.topology, subscription),
      ordered: subscription.ordering === "ordered",
    };
    state.subscriptions.set(subscription.uid, known);
    try {
      await withTimeout(
        this.createSubscription(state.topology, known),
        this.callTimeoutMs * 2,
        "creating subscription",
      );
    } catch (error) {
      throw backendUnavailable(BACKEND, error);
    }
    const consumer = new PubSubConsumer({
      client: this.client,
      name: known.name,
      topology: state.topology,
      subscription,
      handler,
      logger: this.logger,
      channelSource: `/apis/${pubsubChannelGroup}/${pubsubChannelVersion}/namespaces/${channel.namespace}/${pubsubChannelPlural}/${channel.name}`,
      recreateTopology: () => this.recreate(state),
    });
    known.consumer = consumer;
    consumer.start();
    return {
      close: async () => {
        await consumer.close();
        if (known.consumer === consumer) known.consumer = undefined;
      },
    };
  }

  async deleteSubscription(channel: ChannelTarget, subscription: SubscriptionTarget): Promise<void> {
    const state = this.stateOf(channel);
    const known = state.subscriptions.get(subscription.uid);
    state.subscriptions.delete(subscription.uid);
    await known?.consumer?.close();
    if (this.config.keepTopologyOnDelete) return;
    const name = known?.name ?? subscriptionName(state.topology, subscription);
    try {
      await withTimeout(
        this.deleteIfPresent(() => this.client.subscription(name).delete()),
        this.callTimeoutMs,
        "deleting subscription",
      );
    } catch (error) {
      throw backendUnavailable(BACKEND, error);
    }
  }

  async isReady(): Promise<boolean> {
    try {
      await withTimeout(
        this.client.getTopics({ pageSize: 1, autoPaginate: false, gaxOpts: { timeout: this.callTimeoutMs } }),
        this.callTimeoutMs,
        "listing topics",
      );
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    const consumers = [...this.channels.values()].flatMap((state) =>
      [...state.subscriptions.values()].map((known) => known.consumer),
    );
    await Promise.all(consumers.map((consumer) => consumer?.close()));
    await this.client.close();
  }
}

export const pubsubChannelAdapter: AdapterFactory = {
  kind: pubsubChannelKind,
  create: ({ config, logger }) => new PubSubChannelAdapter(config.pubsub, logger, config.publishTimeoutMs),
};
