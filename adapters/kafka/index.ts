import {
  Kafka,
  logLevel,
  type Admin,
  type Consumer,
  type KafkaConfig,
  type KafkaMessage,
  type Message,
  type Producer,
} from "kafkajs";
import type { Logger } from "pino";
import type { HeraldConfig } from "../../src/config.js";
import { backendUnavailable } from "../../src/errors.js";
import type { CloudEvent } from "../../src/events/event.js";
import { durationToMs } from "../../src/resources/duration.js";
import { kafkaChannelSpecSchema } from "../../src/resources/kafka-channel.js";
import {
  UNDECODABLE_EVENT_TYPE,
  type AdapterFactory,
  type ChannelAdapter,
  type ChannelTarget,
  type DeliveryContext,
  type EventHandler,
  type SubscriptionHandle,
  type SubscriptionTarget,
} from "../adapter.js";
import { fromKafkaMessage, toKafkaMessage } from "./binding.js";

/**
 * KafkaChannel on Apache Kafka, named as Knative's KafkaChannel names things:
 *   topic           knative-messaging-kafka.{namespace}.{channel}
 *   consumer group  knative-messaging-kafka.{namespace}.{channel}.{subscription}
 * The group is named after the subscription, not its uid, so Herald processes that each load the
 * same manifests join one group and share the partitions instead of each delivering every event.
 * Deleting the subscription deletes the group.
 *
 * Publish: one idempotent producer (acks=all) for every channel; `publish` resolves once Kafka
 * acknowledged the whole batch, and rejects with BackendUnavailable within `publishTimeoutMs`.
 * Concurrent publishes to a topic are group-committed (see `enqueue`).
 * Dispatch: one consumer group per subscription, offsets committed manually and only past events
 * whose handler resolved. Ordered: one event at a time per partition, a rejected event retried in
 * place. Unordered: up to maxInFlight events of a fetched batch at once. A new subscription starts at
 * the end of the topic, so it sees every event published after it was created.
 */
const RETRY_IN_PLACE_MS = 1_000;
const HEARTBEAT_MS = 3_000;

export function topicName(channel: { namespace: string; name: string }): string {
  return `knative-messaging-kafka.${channel.namespace}.${channel.name}`;
}

export function groupId(
  channel: { namespace: string; name: string },
  subscription: { name: string },
): string {
  return `${topicName(channel)}.${subscription.name}`;
}

function clientConfig(config: HeraldConfig, retries: number): KafkaConfig {
  const { kafka } = config;
  return {
    clientId: kafka.clientId,
    brokers: kafka.bootstrapServers,
    ssl: kafka.ssl,
    ...(kafka.sasl ? { sasl: kafka.sasl as KafkaConfig["sasl"] } : {}),
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    logLevel: logLevel.NOTHING,
    retry: { retries, initialRetryTime: 200, maxRetryTime: 2_000 },
  };
}

interface OutboxEntry {
  readonly messages: Message[];
  bytes: number;
  /** The caller gave up (timed out and answered 503): not sent if it has not been yet. */
  abandoned: boolean;
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface Outbox {
  readonly waiting: OutboxEntry[];
  sending: boolean;
}

/** Largest produce request a group commit builds (Kafka's default message.max.bytes is ~1 MiB). */
const MAX_BATCH_BYTES = 512 * 1024;

class KafkaChannelAdapter implements ChannelAdapter {
  readonly kind = "KafkaChannel";
  /** Few retries: ingress must answer 503 quickly when Kafka is down. */
  private readonly client: Kafka;
  /** Consumers retry longer and restart by themselves after a broker outage. */
  private readonly consumerClient: Kafka;
  private producer: Producer | undefined;
  private producerReady: Promise<Producer> | undefined;
  private admin: Admin | undefined;
  private readonly consumers = new Set<{ consumer: Consumer; closing: boolean }>();
  private readonly outboxes = new Map<string, Outbox>();

  constructor(
    private readonly config: HeraldConfig,
    private readonly logger: Logger,
  ) {
    this.client = new Kafka(clientConfig(config, 2));
    this.consumerClient = new Kafka(clientConfig(config, 8));
  }

  private async withAdmin<T>(work: (admin: Admin) => Promise<T>): Promise<T> {
    if (!this.admin) {
      const admin = this.client.admin();
      await admin.connect();
      this.admin = admin;
    }
    try {
      return await work(this.admin);
    } catch (error) {
      await this.admin.disconnect().catch(() => undefined);
      this.admin = undefined;
      throw error;
    }
  }

  private connectProducer(): Promise<Producer> {
    if (!this.producerReady) {
      const producer = this.client.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
      });
      producer.on(producer.events.DISCONNECT, () => {
        if (this.producer === producer) {
          this.producer = undefined;
          this.producerReady = undefined;
        }
      });
      this.producerReady = producer.connect().then(
        () => {
          this.producer = producer;
          return producer;
        },
        (error: unknown) => {
          this.producerReady = undefined;
          throw error;
        },
      );
    }
    return this.producerReady;
  }

  async createChannel(channel: ChannelTarget) {
    const spec = kafkaChannelSpecSchema.parse(channel.spec);
    const topic = topicName(channel);
    await this.withAdmin((admin) =>
      admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic,
            numPartitions: spec.numPartitions,
            replicationFactor: spec.replicationFactor,
            configEntries: [
              {
                name: "retention.ms",
                value: String(Math.round(durationToMs(spec.retentionDuration) ?? 604_800_000)),
              },
            ],
          },
        ],
      }),
    );
    return { topic, partitions: spec.numPartitions };
  }

  async deleteChannel(channel: ChannelTarget): Promise<void> {
    if (this.config.kafka.keepTopicsOnDelete) return;
    await this.withAdmin((admin) => admin.deleteTopics({ topics: [topicName(channel)] }));
  }

  async publish(channel: ChannelTarget, events: readonly CloudEvent[]): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no acknowledgement within ${this.config.publishTimeoutMs} ms`)),
        this.config.publishTimeoutMs,
      );
    });
    const { sent, abandon } = this.enqueue(topicName(channel), events.map(toKafkaMessage));
    sent.catch(() => undefined);
    try {
      await Promise.race([sent, timeout]);
    } catch (error) {
      abandon();
      throw backendUnavailable("Kafka", error);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Group commit: while one produce request of a topic is in flight, the publishes that arrive
   * wait and then go together as the next request (up to MAX_BATCH_BYTES). Each caller resolves
   * when the request holding its events is acknowledged; the order of publishes is kept. Under
   * load this turns many small acks=all round trips into few large ones.
   */
  private enqueue(topic: string, messages: Message[]): { sent: Promise<void>; abandon: () => void } {
    let outbox = this.outboxes.get(topic);
    if (!outbox) {
      outbox = { waiting: [], sending: false };
      this.outboxes.set(topic, outbox);
    }
    const entry: OutboxEntry = { messages, bytes: 0, abandoned: false, resolve: () => {}, reject: () => {} };
    for (const message of messages) entry.bytes += (message.value as Buffer | null)?.length ?? 0;
    const done = new Promise<void>((resolve, reject) => {
      entry.resolve = resolve;
      entry.reject = reject;
    });
    outbox.waiting.push(entry);
    if (!outbox.sending) void this.drain(topic, outbox);
    return { sent: done, abandon: () => (entry.abandoned = true) };
  }

  private async drain(topic: string, outbox: Outbox): Promise<void> {
    outbox.sending = true;
    while (outbox.waiting.length > 0) {
      let bytes = 0;
      let count = 0;
      while (
        count < outbox.waiting.length &&
        (count === 0 || bytes + outbox.waiting[count]!.bytes <= MAX_BATCH_BYTES)
      ) {
        bytes += outbox.waiting[count]!.bytes;
        count++;
      }
      const batch = outbox.waiting.splice(0, count).filter((entry) => !entry.abandoned);
      if (batch.length === 0) continue;
      try {
        const producer = await this.connectProducer();
        await producer.send({
          topic,
          acks: -1,
          timeout: this.config.publishTimeoutMs,
          messages: batch.flatMap((entry) => entry.messages),
        });
        for (const entry of batch) entry.resolve();
      } catch (error) {
        for (const entry of batch) entry.reject(error);
      }
    }
    outbox.sending = false;
    this.outboxes.delete(topic);
  }

  /** A new group starts at the current end of the topic (see the contract above). */
  private async startAtEnd(group: string, topic: string): Promise<void> {
    await this.withAdmin(async (admin) => {
      const committed = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      const partitions = committed[0]?.partitions ?? [];
      if (partitions.some((p) => p.offset !== "-1")) return;
      const ends = await admin.fetchTopicOffsets(topic);
      await admin.setOffsets({
        groupId: group,
        topic,
        partitions: ends.map((p) => ({ partition: p.partition, offset: p.high })),
      });
    });
  }

  private toEvent(
    channel: ChannelTarget,
    partition: number,
    message: KafkaMessage,
  ): { event: CloudEvent; context: DeliveryContext } {
    const decoded = fromKafkaMessage(message);
    if (typeof decoded !== "string") return { event: decoded, context: {} };
    return {
      event: {
        attributes: {
          specversion: "1.0",
          id: `partition:${partition}/offset:${message.offset}`,
          source: `/apis/messaging.knative.dev/v1beta1/namespaces/${channel.namespace}/kafkachannels/${channel.name}`,
          type: UNDECODABLE_EVENT_TYPE,
          datacontenttype: "application/octet-stream",
        },
        data: message.value ?? undefined,
      },
      context: { undecodable: decoded },
    };
  }

  async subscribe(
    channel: ChannelTarget,
    subscription: SubscriptionTarget,
    handler: EventHandler,
  ): Promise<SubscriptionHandle> {
    const topic = topicName(channel);
    const group = groupId(channel, subscription);
    await this.startAtEnd(group, topic);
    const consumer = this.consumerClient.consumer({
      groupId: group,
      sessionTimeout: 30_000,
      heartbeatInterval: HEARTBEAT_MS,
      retry: { retries: 8, restartOnFailure: async () => true },
    });
    const entry = { consumer, closing: false };
    this.consumers.add(entry);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const ordered = subscription.ordering === "ordered";

    /** Calls the handler until it resolves; retries in place unless the consumer is closing. */
    const deliver = async (partition: number, message: KafkaMessage) => {
      const { event, context } = this.toEvent(channel, partition, message);
      for (;;) {
        try {
          await handler(event, context);
          return;
        } catch (error) {
          if (entry.closing) throw error;
          await new Promise((resolve) => setTimeout(resolve, RETRY_IN_PLACE_MS));
        }
      }
    };

    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: ordered ? 4 : 1,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        const commit = (offset: string) =>
          consumer.commitOffsets([{ topic, partition: batch.partition, offset: String(Number(offset) + 1) }]);
        const beat = setInterval(() => void heartbeat().catch(() => undefined), HEARTBEAT_MS);
        try {
          if (ordered) {
            for (const message of batch.messages) {
              if (!isRunning() || isStale() || entry.closing) break;
              await deliver(batch.partition, message);
              resolveOffset(message.offset);
              await commit(message.offset);
            }
            return;
          }
          // Unordered: a pool of maxInFlight workers; commit only the contiguous completed prefix.
          const messages = batch.messages;
          const done = new Array<boolean>(messages.length).fill(false);
          let next = 0;
          let failure: unknown;
          const worker = async () => {
            while (next < messages.length && failure === undefined) {
              const index = next++;
              try {
                await deliver(batch.partition, messages[index]!);
                done[index] = true;
              } catch (error) {
                failure = error;
              }
            }
          };
          await Promise.all(
            Array.from({ length: Math.min(subscription.maxInFlight, messages.length) }, worker),
          );
          let contiguous = -1;
          while (contiguous + 1 < messages.length && done[contiguous + 1]) contiguous++;
          if (contiguous >= 0) {
            const last = messages[contiguous]!;
            resolveOffset(last.offset);
            await commit(last.offset);
          }
          if (failure !== undefined) throw failure;
        } finally {
          clearInterval(beat);
        }
      },
    });
    consumer.on(consumer.events.CRASH, (event) => {
      this.logger.warn(
        { group, err: (event.payload.error as Error)?.message, restart: event.payload.restart },
        "Kafka consumer crashed",
      );
    });
    return {
      close: async () => {
        entry.closing = true;
        this.consumers.delete(entry);
        await consumer.disconnect().catch(() => undefined);
      },
    };
  }

  async deleteSubscription(channel: ChannelTarget, subscription: SubscriptionTarget): Promise<void> {
    await this.withAdmin((admin) => admin.deleteGroups([groupId(channel, subscription)])).catch(
      (error: unknown) => {
        this.logger.warn(
          { group: groupId(channel, subscription), err: (error as Error).message },
          "could not delete consumer group",
        );
      },
    );
  }

  async isReady(): Promise<boolean> {
    try {
      await this.withAdmin((admin) => admin.describeCluster());
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    for (const entry of this.consumers) entry.closing = true;
    await Promise.all([...this.consumers].map((entry) => entry.consumer.disconnect().catch(() => undefined)));
    this.consumers.clear();
    await this.producer?.disconnect().catch(() => undefined);
    await this.admin?.disconnect().catch(() => undefined);
  }
}

export const kafkaChannelAdapter: AdapterFactory = {
  kind: "KafkaChannel",
  create: ({ config, logger }) => new KafkaChannelAdapter(config, logger),
};
