import { Kafka, type KafkaMessage } from "kafkajs";
import type { Logger } from "pino";
import type { CloudEvent } from "../../src/events/event.js";
import type { KindNames } from "../../src/resources/kind.js";
import { backendUnavailable, HeraldError } from "../../src/errors.js";
import {
  channelSource,
  defineChannelPlugin,
  markReplayed,
  replayMark,
  undecodableEvent,
  untilAborted,
  type ChannelAdapter,
  type ChannelBackendStatus,
  type ChannelTarget,
  type DeliveryContext,
  type EventHandler,
  type PublishOptions,
  type ReplayPosition,
  type ReplaySupport,
  type SeekResult,
  type SubscriptionHandle,
  type SubscriptionTarget,
} from "../adapter.js";
import { KafkaAdmin } from "./admin.js";
import { fromKafkaMessage, toKafkaMessage } from "./binding.js";
import { clientConfig, kafkaConfig, type KafkaSettings } from "./config.js";
import { startConsumer } from "./consumer.js";
import { groupId, topicName } from "./names.js";
import { Outbox } from "./outbox.js";
import { SharedProducer } from "./producer.js";
import { kafkaChannelSpecSchema, type KafkaChannelSpec } from "./spec.js";
import { kafkaTopicKind } from "./topic-kind.js";
import { PublishDeadlines } from "../publish-deadlines.js";

export { groupId, topicName } from "./names.js";

/** How long a readiness answer is reused, so probes do not each cost a metadata round trip. */
const READINESS_CACHE_MS = 2_000;
/** A readiness check that takes longer than this answers "not ready". */
const READINESS_TIMEOUT_MS = 5_000;

export const kafkaChannelKind: KindNames = {
  group: "messaging.knative.dev",
  versions: ["v1beta1"],
  kind: "KafkaChannel",
  plural: "kafkachannels",
  shortNames: ["kc", "kafkachannel"],
};

interface RunningSubscription {
  readonly group: string;
  readonly handle: SubscriptionHandle;
  /** Stops the consumer, and starts it again (after a seek). */
  stop(): Promise<void>;
  restart(): Promise<void>;
}

/** A replay: records of a partition before its `until` offset are handed over marked. */
interface KafkaReplay {
  readonly mark: string;
  readonly until: ReadonlyMap<number, bigint>;
}

/** How long a seek waits for the group's members (this process's, stopping) to leave. */
const SEEK_WAIT_MS = 15_000;

/**
 * KafkaChannel on Apache Kafka: one topic per channel, one consumer group per subscription (names
 * in names.ts).
 *
 * Publish: one idempotent producer (acks=all) for every channel (producer.ts), fed by a group-commit
 * outbox per topic (outbox.ts); `publish` resolves once Kafka acknowledged the whole batch, and
 * rejects with BackendUnavailable when the caller's signal aborts first, withdrawing the batch if
 * it was not sent yet. Deleting a channel never stops other channels from taking events.
 * Dispatch: consumer.ts. A new subscription starts at the end of the topic, so it sees every event
 * published after it was created; its group is shared by every Herald process that runs it.
 */
class KafkaChannelAdapter implements ChannelAdapter<KafkaChannelSpec> {
  readonly kind = kafkaChannelKind.kind;
  private readonly admin: KafkaAdmin;
  private readonly producer: SharedProducer;
  private readonly outbox: Outbox;
  /** Publishes waiting for Kafka's acknowledgement, rejected (and withdrawn) once late. */
  private readonly deadlines = new PublishDeadlines("Kafka");
  /** Consumers retry longer than the producer and restart by themselves after a broker outage. */
  private readonly consumerClient: Kafka;
  /** This adapter's open subscriptions, by topic. */
  private readonly running = new Map<string, Set<RunningSubscription>>();
  private readiness: { readonly at: number; readonly ready: Promise<boolean> } | undefined;
  /** Replays sought through this instance, by consumer group. */
  private readonly replays = new Map<string, KafkaReplay>();

  constructor(
    private readonly settings: KafkaSettings,
    private readonly logger: Logger,
  ) {
    const client = new Kafka(clientConfig(settings, 2));
    this.consumerClient = new Kafka(clientConfig(settings, 8));
    this.admin = new KafkaAdmin(client);
    this.producer = new SharedProducer(client, () => this.admin.listTopics(), logger);
    this.outbox = new Outbox((topic, messages) => this.producer.send(topic, messages));
  }

  async createChannel(channel: ChannelTarget<KafkaChannelSpec>): Promise<ChannelBackendStatus> {
    const topic = topicName(channel);
    if (channel.spec.externalTopic) return { topic, partitions: await this.admin.requireTopic(topic) };
    await this.admin.createTopic(topic, channel.spec);
    return { topic, partitions: channel.spec.numPartitions };
  }

  async deleteChannel(channel: ChannelTarget<KafkaChannelSpec>): Promise<void> {
    const topic = topicName(channel);
    // Only this channel's consumers: Brokers may share an external topic.
    const groups = groupId(channel, { name: "" });
    await this.closeSubscriptions(topic, (entry) => entry.group.startsWith(groups));
    if (this.settings.keepTopicsOnDelete || channel.spec.externalTopic) return;
    await this.admin.deleteTopic(topic);
    this.producer.forget(topic);
  }

  async publish(
    channel: ChannelTarget<KafkaChannelSpec>,
    events: readonly CloudEvent[],
    options: PublishOptions,
  ): Promise<void> {
    const { sent, withdraw } = this.outbox.enqueue(topicName(channel), events.map(toKafkaMessage));
    await this.deadlines.race(sent, options, withdraw);
  }

  async subscribe(
    channel: ChannelTarget<KafkaChannelSpec>,
    subscription: SubscriptionTarget,
    handler: EventHandler,
  ): Promise<SubscriptionHandle> {
    const topic = topicName(channel);
    const group = groupId(channel, subscription);
    await this.admin.startAtEnd(group, topic);
    const source = channelSource(kafkaChannelKind, channel);
    const start = () =>
      startConsumer({
        client: this.consumerClient,
        topic,
        group,
        subscription,
        handler,
        toEvent: (partition, message) => {
          const converted = toEvent(source, partition, message);
          const replay = this.replays.get(group);
          const until = replay?.until.get(partition);
          if (!replay || until === undefined || BigInt(message.offset) >= until) return converted;
          return { ...converted, event: markReplayed(converted.event, replay.mark) };
        },
        logger: this.logger,
      });
    let consumer: SubscriptionHandle | undefined = await start();
    let running = this.running.get(topic);
    if (!running) this.running.set(topic, (running = new Set()));
    const entry: RunningSubscription = {
      group,
      handle: {
        close: async () => {
          running.delete(entry);
          if (running.size === 0 && this.running.get(topic) === running) this.running.delete(topic);
          await entry.stop();
        },
      },
      stop: async () => {
        const stopping = consumer;
        consumer = undefined;
        await stopping?.close();
      },
      restart: async () => {
        if (running.has(entry)) consumer ??= await start();
      },
    };
    running.add(entry);
    return entry.handle;
  }

  /** Every KafkaChannel replays: its topic keeps records for retentionDuration. */
  replaySupport(): ReplaySupport {
    return { replayable: true, from: ["beginning", "time", "offset"] };
  }

  /**
   * Moves the subscription's consumer group, partition by partition: `beginning` to the oldest
   * record kept, `time` to the first record whose timestamp is at or after it (Kafka's ListOffsets by
   * timestamp), `offset` to that offset in every partition (within what each keeps). The group must
   * have no member while it moves: this process's consumers of it stop and start again; a group
   * another process consumes from is refused (Conflict). Which records are replays (marked) is kept
   * in this adapter instance: after a restart the rest of a replay is handed over unmarked.
   */
  async seek(
    channel: ChannelTarget<KafkaChannelSpec>,
    subscription: SubscriptionTarget,
    position: ReplayPosition,
  ): Promise<SeekResult> {
    const topic = topicName(channel);
    const group = groupId(channel, subscription);
    const offsets = await this.admin.replayOffsets(topic, position);
    const running = [...(this.running.get(topic) ?? [])].filter((entry) => entry.group === group);
    await Promise.all(running.map((entry) => entry.stop()));
    try {
      await this.setOffsetsWhenEmpty(group, topic, offsets);
      this.replays.set(group, {
        mark: replayMark(position),
        until: new Map(offsets.map(({ partition, end }) => [partition, BigInt(end)])),
      });
    } finally {
      await Promise.all(running.map((entry) => entry.restart()));
    }
    return {
      topic,
      partitions: offsets.length,
      offsets: offsets.map(({ partition, offset }) => `${partition}:${offset}`).join(","),
    };
  }

  /** Sets the group's offsets once its stopping members have left; refuses when others stay. */
  private async setOffsetsWhenEmpty(
    group: string,
    topic: string,
    offsets: readonly { partition: number; offset: string }[],
  ): Promise<void> {
    const deadline = Date.now() + SEEK_WAIT_MS;
    for (;;) {
      try {
        await this.admin.setOffsets(group, topic, offsets);
        return;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (!/running instances|not empty|rebalanc/i.test(message)) throw backendUnavailable("Kafka", error);
        if (Date.now() > deadline)
          throw new HeraldError(
            "Conflict",
            `the consumer group ${group} still has members (another Herald process runs this subscription): ${message}`,
          );
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  }

  async deleteSubscription(
    channel: ChannelTarget<KafkaChannelSpec>,
    subscription: SubscriptionTarget,
  ): Promise<void> {
    const group = groupId(channel, subscription);
    // A group with members cannot be deleted: stop this process's members first.
    await this.closeSubscriptions(topicName(channel), (entry) => entry.group === group);
    this.replays.delete(group);
    await this.admin.deleteGroup(group).catch((error: unknown) => {
      this.logger.warn({ group, err: (error as Error).message }, "could not delete Kafka consumer group");
    });
  }

  /**
   * A metadata round trip (every topic), reused for READINESS_CACHE_MS. It also replaces the
   * producer when a topic it wrote to is gone, so "ready" means publishes can succeed.
   */
  isReady(): Promise<boolean> {
    const now = Date.now();
    if (this.readiness && now - this.readiness.at < READINESS_CACHE_MS) return this.readiness.ready;
    const ready = this.checkReadiness();
    this.readiness = { at: now, ready };
    return ready;
  }

  async close(): Promise<void> {
    const topics = [...this.running.keys()];
    await Promise.all(topics.map((topic) => this.closeSubscriptions(topic, () => true)));
    await this.producer.close();
    await this.admin.close();
    this.deadlines.close("the adapter is closed");
  }

  private async checkReadiness(): Promise<boolean> {
    try {
      const signal = AbortSignal.timeout(READINESS_TIMEOUT_MS);
      const topics = await untilAborted("Kafka", this.admin.listTopics(), signal);
      await this.producer.forgetDeletedTopics(topics);
      return true;
    } catch (error) {
      this.logger.debug({ err: (error as Error).message }, "Kafka is not ready");
      return false;
    }
  }

  private async closeSubscriptions(
    topic: string,
    matches: (entry: RunningSubscription) => boolean,
  ): Promise<void> {
    const running = [...(this.running.get(topic) ?? [])].filter(matches);
    await Promise.all(running.map((entry) => entry.handle.close()));
  }
}

/** A record as the handler receives it; one that is not a CloudEvent is wrapped, never dropped. */
function toEvent(
  source: string,
  partition: number,
  message: KafkaMessage,
): { event: CloudEvent; context: DeliveryContext } {
  const decoded = fromKafkaMessage(message);
  if (typeof decoded !== "string") return { event: decoded, context: {} };
  return undecodableEvent({
    id: `partition:${partition}/offset:${message.offset}`,
    source,
    body: message.value ?? undefined,
    reason: decoded,
  });
}

export const kafkaChannelPlugin = defineChannelPlugin({
  kind: kafkaChannelKind,
  specSchema: kafkaChannelSpecSchema,
  config: kafkaConfig,
  brokerClasses: ["Kafka", "KafkaNamespaced"],
  topologyKinds: [kafkaTopicKind],
  create: ({ config, logger }) => new KafkaChannelAdapter(config, logger),
});
