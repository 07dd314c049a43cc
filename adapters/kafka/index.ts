import { Kafka, type KafkaMessage } from "kafkajs";
import type { Logger } from "pino";
import type { CloudEvent } from "../../src/events/event.js";
import type { KindNames } from "../../src/resources/kind.js";
import {
  channelSource,
  defineChannelPlugin,
  undecodableEvent,
  untilAborted,
  type ChannelAdapter,
  type ChannelBackendStatus,
  type ChannelTarget,
  type DeliveryContext,
  type EventHandler,
  type PublishOptions,
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
}

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
  /** Consumers retry longer than the producer and restart by themselves after a broker outage. */
  private readonly consumerClient: Kafka;
  /** This adapter's open subscriptions, by topic. */
  private readonly running = new Map<string, Set<RunningSubscription>>();
  private readiness: { readonly at: number; readonly ready: Promise<boolean> } | undefined;

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
    await this.admin.createTopic(topic, channel.spec);
    return { topic, partitions: channel.spec.numPartitions };
  }

  async deleteChannel(channel: ChannelTarget<KafkaChannelSpec>): Promise<void> {
    const topic = topicName(channel);
    await this.closeSubscriptions(topic, () => true);
    if (this.settings.keepTopicsOnDelete) return;
    await this.admin.deleteTopic(topic);
    this.producer.forget(topic);
  }

  async publish(
    channel: ChannelTarget<KafkaChannelSpec>,
    events: readonly CloudEvent[],
    { signal }: PublishOptions,
  ): Promise<void> {
    const { sent, withdraw } = this.outbox.enqueue(topicName(channel), events.map(toKafkaMessage));
    await untilAborted("Kafka", sent, signal, withdraw);
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
    const consumer = await startConsumer({
      client: this.consumerClient,
      topic,
      group,
      subscription,
      handler,
      toEvent: (partition, message) => toEvent(source, partition, message),
      logger: this.logger,
    });
    let running = this.running.get(topic);
    if (!running) this.running.set(topic, (running = new Set()));
    const entry: RunningSubscription = {
      group,
      handle: {
        close: async () => {
          running.delete(entry);
          if (running.size === 0 && this.running.get(topic) === running) this.running.delete(topic);
          await consumer.close();
        },
      },
    };
    running.add(entry);
    return entry.handle;
  }

  async deleteSubscription(
    channel: ChannelTarget<KafkaChannelSpec>,
    subscription: SubscriptionTarget,
  ): Promise<void> {
    const group = groupId(channel, subscription);
    // A group with members cannot be deleted: stop this process's members first.
    await this.closeSubscriptions(topicName(channel), (entry) => entry.group === group);
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
  create: ({ config, logger }) => new KafkaChannelAdapter(config, logger),
});
