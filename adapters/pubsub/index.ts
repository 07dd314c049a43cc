import { PubSub, type Topic } from "@google-cloud/pubsub";
import type { Logger } from "pino";
import { backendUnavailable, HeraldError } from "../../src/errors.js";
import { attributeString, type CloudEvent } from "../../src/events/event.js";
import {
  channelSource,
  defineChannelPlugin,
  replayMark,
  replayRefused,
  untilAborted,
  type ChannelAdapter,
  type ChannelBackendStatus,
  type ChannelTarget,
  type EventHandler,
  type PublishOptions,
  type ReplayPosition,
  type ReplaySupport,
  type SeekResult,
  type SubscriptionHandle,
  type SubscriptionTarget,
} from "../adapter.js";
import { encodeEvent } from "./binding.js";
import { pubsubClientConfig } from "./client.js";
import { pubsubConfig, type PubSubConfig } from "./config.js";
import { NOT_FOUND, PubSubConsumer } from "./consumer.js";
import { pubsubChannelNames, pubsubChannelSpecSchema, type PubSubChannelSpec } from "./spec.js";
import {
  channelKey,
  isHeraldSubscription,
  resolveTopology,
  subscriptionName,
  type ChannelTopology,
} from "./topology.js";

/** gRPC status ALREADY_EXISTS. */
const ALREADY_EXISTS = 6;
/** gRPC status PERMISSION_DENIED: Pub/Sub answered, the credentials only lack the right to list topics. */
const PERMISSION_DENIED = 7;
const BACKEND = "Pub/Sub";
/** Longest a topology call (creating or deleting a topic or subscription) may take. */
const ADMIN_TIMEOUT_MS = 10_000;
/** Longest the readiness probe waits for Pub/Sub to answer. */
const READY_TIMEOUT_MS = 3_000;

type PubSubChannel = ChannelTarget<PubSubChannelSpec>;

/** gRPC status UNIMPLEMENTED. */
const UNIMPLEMENTED = 12;

interface KnownSubscription {
  /** Full name of the Pub/Sub subscription. */
  readonly name: string;
  readonly ordered: boolean;
  consumer?: PubSubConsumer | undefined;
}

interface ChannelState {
  topology: ChannelTopology;
  topic: Topic;
  /** Every Pub/Sub subscription this process created or consumed for the channel, by its name. */
  readonly subscriptions: Map<string, KnownSubscription>;
  recreating?: Promise<void> | undefined;
}

function codeOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "number" ? code : undefined;
}

async function closeConsumers(known: readonly KnownSubscription[]): Promise<void> {
  await Promise.all(known.flatMap((subscription) => subscription.consumer?.close() ?? []));
}

/** Rejects with BackendUnavailable when `work` fails or takes longer than `ms`. */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } catch (error) {
    throw backendUnavailable(BACKEND, error);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * PubSubChannel on Google Cloud Pub/Sub (or its emulator).
 *
 * Topology: one topic per channel, one Pub/Sub subscription per Herald Subscription, named after
 * the subscription's namespace and name (`herald.{namespace}.{channel}.{subscription}`), so Herald
 * processes that run the same subscription share its events. Subscriptions are created with the
 * channel's ack deadline, retention and message ordering. Topic and subscriptions are deleted with
 * their resources unless `pubsub.keepTopologyOnDelete`. The topology is resolved from the spec by
 * `createChannel` and kept; publishing only looks it up.
 *
 * Publish resolves when Pub/Sub returned a message id for every event of the batch, and rejects
 * with BackendUnavailable when that fails or the caller's signal aborts first. When the topic is
 * gone (NOT_FOUND, e.g. the emulator restarted and forgot it), the topic and every subscription this
 * process knows are re-created and the batch is published again. A batch answered
 * BackendUnavailable may still reach Pub/Sub later through the client library's own retries: a
 * sender that retries then causes a duplicate, which at-least-once delivery allows.
 */
class PubSubChannelAdapter implements ChannelAdapter<PubSubChannelSpec> {
  readonly kind = pubsubChannelNames.kind;
  private readonly client: PubSub;
  private readonly channels = new Map<string, ChannelState>();
  /** Replays sought through this adapter, by Pub/Sub subscription name. */
  private readonly replays = new Map<string, { readonly mark: string; readonly until: number }>();

  constructor(
    private readonly config: PubSubConfig,
    private readonly logger: Logger,
  ) {
    this.client = new PubSub(pubsubClientConfig(config));
  }

  /**
   * Resolves the channel's topology from its spec and keeps it for the calls that follow. The state
   * is updated in place, so consumers already running re-create the current topology.
   */
  private track(channel: PubSubChannel): ChannelState {
    const topology = resolveTopology(channel, this.config.projectId);
    const state = this.channels.get(topology.key);
    if (!state) {
      const created: ChannelState = { topology, topic: this.topicFor(topology), subscriptions: new Map() };
      this.channels.set(topology.key, created);
      return created;
    }
    if (
      state.topology.topicName !== topology.topicName ||
      state.topology.enableMessageOrdering !== topology.enableMessageOrdering
    ) {
      state.topic = this.topicFor(topology);
    }
    state.topology = topology;
    return state;
  }

  /** The kept state; a channel this process has not created yet is resolved once, here. */
  private stateOf(channel: PubSubChannel): ChannelState {
    return this.channels.get(channelKey(channel)) ?? this.track(channel);
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
      // Acknowledged messages stay (for messageRetentionDuration) so that a seek can replay them.
      retainAckedMessages: true,
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

  async createChannel(channel: PubSubChannel): Promise<ChannelBackendStatus> {
    const state = this.track(channel);
    const { topology } = state;
    // The subscriptions this process runs are part of the channel's topology: a topic created again
    // (the emulator forgot everything) takes events only once they exist again too, or they would miss them.
    const create = async () => {
      await this.createTopic(topology);
      for (const known of state.subscriptions.values()) await this.createSubscription(topology, known);
    };
    await within(ADMIN_TIMEOUT_MS, "creating topology", create());
    return { project: topology.project, topic: topology.topicName.split("/").pop()! };
  }

  async deleteChannel(channel: PubSubChannel): Promise<void> {
    const key = channelKey(channel);
    const state = this.channels.get(key);
    this.channels.delete(key);
    const known = [...(state?.subscriptions.values() ?? [])];
    await closeConsumers(known);
    if (this.config.keepTopologyOnDelete) return;
    const topology = state?.topology ?? resolveTopology(channel, this.config.projectId);
    await within(
      ADMIN_TIMEOUT_MS,
      "deleting topology",
      this.deleteTopology(
        topology,
        known.map((subscription) => subscription.name),
      ),
    );
  }

  /** Deletes the topic and the subscriptions Herald named on it, including ones another process made. */
  private async deleteTopology(topology: ChannelTopology, known: readonly string[]): Promise<void> {
    const names = new Set(known);
    try {
      const [attached] = await this.client.topic(topology.topicName).getSubscriptions();
      for (const subscription of attached)
        if (isHeraldSubscription(subscription.name)) names.add(subscription.name);
    } catch (error) {
      if (codeOf(error) !== NOT_FOUND) throw error;
    }
    await Promise.all(
      [...names].map((name) => this.deleteIfPresent(() => this.client.subscription(name).delete())),
    );
    await this.deleteIfPresent(() => this.client.topic(topology.topicName).delete());
  }

  private async deleteIfPresent(remove: () => Promise<unknown>): Promise<void> {
    try {
      await remove();
    } catch (error) {
      if (codeOf(error) !== NOT_FOUND) throw error;
    }
  }

  async publish(
    channel: PubSubChannel,
    events: readonly CloudEvent[],
    { signal }: PublishOptions,
  ): Promise<void> {
    if (events.length === 0) return;
    const state = this.stateOf(channel);
    await untilAborted(BACKEND, this.publishOrRecreate(state, events, signal), signal);
  }

  private async publishOrRecreate(
    state: ChannelState,
    events: readonly CloudEvent[],
    signal: AbortSignal,
  ): Promise<void> {
    // Nothing is sent for a caller that already stopped waiting.
    signal.throwIfAborted();
    try {
      await this.publishBatch(state, events);
    } catch (error) {
      if (codeOf(error) !== NOT_FOUND || signal.aborted) throw error;
      await this.recreate(state);
      signal.throwIfAborted();
      await this.publishBatch(state, events);
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
    channel: PubSubChannel,
    subscription: SubscriptionTarget,
    handler: EventHandler,
  ): Promise<SubscriptionHandle> {
    const state = this.stateOf(channel);
    const name = subscriptionName(state.topology, subscription);
    await state.subscriptions.get(name)?.consumer?.close();
    const known: KnownSubscription = { name, ordered: subscription.ordering === "ordered" };
    state.subscriptions.set(name, known);
    await within(ADMIN_TIMEOUT_MS, "creating subscription", this.createSubscription(state.topology, known));
    const consumer = new PubSubConsumer({
      client: this.client,
      name,
      topology: state.topology,
      subscription,
      handler,
      logger: this.logger,
      channelSource: channelSource(pubsubChannelNames, channel),
      recreateTopology: () => this.recreate(state),
      replay: () => this.replays.get(name),
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

  /** Every PubSubChannel replays from a time or the beginning; Pub/Sub has no offsets. */
  replaySupport(): ReplaySupport {
    return { replayable: true, from: ["beginning", "time"] };
  }

  /**
   * Seeks the Pub/Sub subscription to a time (`beginning`: the oldest message retained): messages
   * published from then on, acknowledged or not, are delivered again, within the subscription's
   * messageRetentionDuration. Herald creates its subscriptions with retainAckedMessages (one created
   * by an older Herald without it replays only what was not acknowledged). Messages published before
   * the seek are marked; that is kept in this adapter instance.
   */
  async seek(
    channel: PubSubChannel,
    subscription: SubscriptionTarget,
    position: ReplayPosition,
  ): Promise<SeekResult> {
    const refused = replayRefused(this.kind, channel, this.replaySupport(), position);
    if (refused) throw refused;
    const state = this.stateOf(channel);
    const name = subscriptionName(state.topology, subscription);
    const handle = this.client.subscription(name);
    const until = Date.now();
    this.replays.set(name, { mark: replayMark(position), until });
    const time = position.from === "time" ? position.time : new Date(0);
    try {
      await handle.seek(time);
    } catch (error) {
      this.replays.delete(name);
      if (codeOf(error) === UNIMPLEMENTED)
        throw new HeraldError(
          "BadRequest",
          `from: this Pub/Sub does not seek subscription ${name} (the emulator cannot seek one with message ordering): ${(error as Error).message}`,
          { field: "from" },
        );
      throw backendUnavailable("Pub/Sub", error);
    }
    return { subscription: name };
  }

  async deleteSubscription(channel: PubSubChannel, subscription: SubscriptionTarget): Promise<void> {
    const state = this.channels.get(channelKey(channel));
    const topology = state?.topology ?? resolveTopology(channel, this.config.projectId);
    const name = subscriptionName(topology, subscription);
    const known = state?.subscriptions.get(name);
    state?.subscriptions.delete(name);
    await known?.consumer?.close();
    if (this.config.keepTopologyOnDelete) return;
    await within(
      ADMIN_TIMEOUT_MS,
      "deleting subscription",
      this.deleteIfPresent(() => this.client.subscription(name).delete()),
    );
  }

  async isReady(): Promise<boolean> {
    const probe = this.client
      .getTopics({ pageSize: 1, autoPaginate: false, gaxOpts: { timeout: READY_TIMEOUT_MS } })
      .then(
        () => true,
        (error: unknown) => codeOf(error) === PERMISSION_DENIED,
      );
    try {
      return await within(READY_TIMEOUT_MS, "listing topics", probe);
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await closeConsumers([...this.channels.values()].flatMap((state) => [...state.subscriptions.values()]));
    await this.client.close();
  }
}

/** PubSubChannel: channels on Google Cloud Pub/Sub, also backing Brokers of class GooglePubSub. */
export const pubsubChannelPlugin = defineChannelPlugin({
  kind: pubsubChannelNames,
  specSchema: pubsubChannelSpecSchema,
  config: pubsubConfig,
  brokerClasses: ["GooglePubSub"],
  create: ({ config, logger }) => new PubSubChannelAdapter(config, logger),
});
