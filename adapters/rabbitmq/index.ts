import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import type { ChannelModel } from "amqplib";
import type { Logger } from "pino";
import type { CloudEvent } from "../../src/events/event.js";
import {
  channelSource,
  defineChannelPlugin,
  REDELIVERY_DELAY_MS,
  replayRefused,
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
import { rabbitmqConfig, type RabbitmqConfig } from "./config.js";
import { RabbitmqConnection, withChannelOn } from "./connection.js";
import { QueueConsumer } from "./consumer.js";
import { Publisher } from "./publisher.js";
import { StreamPositions } from "./stream.js";
import { rabbitmqChannelNames, rabbitmqChannelSpecSchema, type RabbitmqChannelSpec } from "./spec.js";
import { declareExchange, declareQueue, exchangeName, queueName } from "./topology.js";
import { rabbitmqTopologyKinds } from "./topology-kinds/index.js";

export { exchangeName, queueName } from "./topology.js";

type Target = ChannelTarget<RabbitmqChannelSpec>;

/**
 * RabbitmqChannel on RabbitMQ (AMQP 0-9-1): a durable fanout exchange per channel and a durable
 * queue per subscription (see topology.ts), declared when resources are applied and removed with
 * them. Publish waits for publisher confirms (publisher.ts); each subscription consumes its queue
 * with manual acks (consumer.ts). After a lost connection, amqplib reconnects and the adapter
 * re-declares the topology it knows and restarts its consumers before it reports ready again.
 */
class RabbitmqChannelAdapter implements ChannelAdapter<RabbitmqChannelSpec> {
  readonly kind = rabbitmqChannelNames.kind;
  private readonly connection: RabbitmqConnection;
  private readonly publisher: Publisher;
  /** What a new connection re-declares: channels by exchange, subscriptions by queue. */
  private readonly channels = new Map<string, Target>();
  private readonly queues = new Map<string, { channel: Target; subscription: SubscriptionTarget }>();
  private readonly consumers = new Set<QueueConsumer>();
  /** Positions of the subscriptions on stream queues, and their running consumers by queue. */
  private readonly streams: StreamPositions;
  private readonly streamRunners = new Map<string, { current: QueueConsumer; replace(): Promise<void> }>();

  constructor(
    config: RabbitmqConfig,
    private readonly logger: Logger,
    dataDir?: string,
  ) {
    this.connection = new RabbitmqConnection(config, logger, (model) => this.restore(model));
    this.publisher = new Publisher(this.connection, logger);
    this.streams = new StreamPositions(dataDir && join(dataDir, "rabbitmq-streams"), logger);
  }

  async createChannel(channel: Target): Promise<ChannelBackendStatus> {
    this.channels.set(exchangeName(channel), channel);
    await this.connection.withChannel((amqp) => declareExchange(amqp, channel));
    return { exchange: exchangeName(channel) };
  }

  async deleteChannel(channel: Target): Promise<void> {
    this.channels.delete(exchangeName(channel));
    const ofChannel = (target: { namespace: string; name: string }) =>
      target.namespace === channel.namespace && target.name === channel.name;
    await this.stopConsumers((consumer) => ofChannel(consumer.channel));
    const queues = [...this.queues].filter(([, entry]) => ofChannel(entry.channel)).map(([queue]) => queue);
    for (const queue of queues) this.queues.delete(queue);
    await this.connection.withChannel(async (amqp) => {
      for (const queue of queues) await amqp.deleteQueue(queue);
      await amqp.deleteExchange(exchangeName(channel));
    });
  }

  async publish(channel: Target, events: readonly CloudEvent[], options: PublishOptions): Promise<void> {
    await this.publisher.publish(exchangeName(channel), events, options);
  }

  async subscribe(
    channel: Target,
    subscription: SubscriptionTarget,
    handler: EventHandler,
  ): Promise<SubscriptionHandle> {
    const queue = queueName(channel, subscription);
    this.queues.set(queue, { channel, subscription });
    await this.connection.withChannel((amqp) => declareQueue(amqp, channel, subscription));
    const isStream = channel.spec.queueType === "stream";
    const make = async () =>
      new QueueConsumer({
        channel,
        subscription,
        handler,
        source: channelSource(rabbitmqChannelNames, channel),
        logger: this.logger,
        onLost: (lost) => void this.restart(lost),
        stream: isStream ? await this.streams.cursor(queue) : undefined,
      });
    const consumer = await make();
    this.consumers.add(consumer);
    if (isStream) {
      const runner = {
        current: consumer,
        replace: async () => {
          runner.current = await make();
          this.consumers.add(runner.current);
          const model = this.connection.current();
          if (model) await runner.current.start(model);
        },
      };
      this.streamRunners.set(queue, runner);
      const start = this.connection.current();
      if (start) await consumer.start(start);
      return {
        close: async () => {
          if (this.streamRunners.get(queue) === runner) this.streamRunners.delete(queue);
          this.consumers.delete(runner.current);
          await runner.current.close();
        },
      };
    }
    // Not connected right now: the next connection starts it (restore).
    const model = this.connection.current();
    if (model) {
      try {
        await consumer.start(model);
      } catch (error) {
        this.consumers.delete(consumer);
        await consumer.close();
        throw error;
      }
    }
    return {
      close: async () => {
        this.consumers.delete(consumer);
        await consumer.close();
      },
    };
  }

  async deleteSubscription(channel: Target, subscription: SubscriptionTarget): Promise<void> {
    const queue = queueName(channel, subscription);
    this.queues.delete(queue);
    this.streamRunners.delete(queue);
    await this.stopConsumers((consumer) => consumer.queue === queue);
    await this.connection.withChannel((amqp) => amqp.deleteQueue(queue));
    if (channel.spec.queueType === "stream") await this.streams.forget(queue);
  }

  isReady(): Promise<boolean> {
    return this.connection.isReady();
  }

  /**
   * A classic or quorum queue removes a message once it is acknowledged: there is nothing to replay.
   * The status of each Subscription on a RabbitmqChannel says so.
   */
  replaySupport(channel: ChannelTarget<RabbitmqChannelSpec>): ReplaySupport {
    if (channel.spec.queueType === "stream")
      return { replayable: true, from: ["beginning", "time", "offset"] };
    return {
      replayable: false,
      reason: `its subscriptions' ${channel.spec.queueType} queues remove each message once it is acknowledged, so nothing is kept to replay`,
    };
  }

  /**
   * On a stream queue: the subscription's consumer starts again at the stream's first message, the
   * chunk of a time (messages of it accepted earlier skipped), or an offset; messages published
   * before the seek are marked. Refused with BadRequest naming `from` on classic and quorum queues.
   */
  async seek(
    channel: ChannelTarget<RabbitmqChannelSpec>,
    subscription: SubscriptionTarget,
    position: ReplayPosition,
  ): Promise<SeekResult> {
    const refused = replayRefused(this.kind, channel, this.replaySupport(channel), position);
    if (refused) throw refused;
    const queue = queueName(channel, subscription);
    const runner = this.streamRunners.get(queue);
    if (runner) {
      this.consumers.delete(runner.current);
      await runner.current.close();
    }
    await this.streams.seek(queue, position);
    await runner?.replace();
    return { queue };
  }

  async close(): Promise<void> {
    await this.stopConsumers(() => true);
    await this.streams.close();
    await this.connection.close();
    this.publisher.close();
  }

  private async stopConsumers(which: (consumer: QueueConsumer) => boolean): Promise<void> {
    const stopping = [...this.consumers].filter(which);
    for (const consumer of stopping) this.consumers.delete(consumer);
    await Promise.all(stopping.map((consumer) => consumer.close()));
  }

  /**
   * On every new connection, before it counts as connected: re-declares the known topology (it may
   * be gone after a RabbitMQ reset) and restarts the consumers. A declaration that fails is logged
   * and does not keep the other channels from working.
   */
  private async restore(model: ChannelModel): Promise<void> {
    for (const [exchange, channel] of this.channels)
      await this.attempt(`declaring exchange ${exchange}`, () =>
        withChannelOn(model, (amqp) => declareExchange(amqp, channel)),
      );
    for (const [queue, { channel, subscription }] of this.queues)
      await this.attempt(`declaring queue ${queue}`, () =>
        withChannelOn(model, (amqp) => declareQueue(amqp, channel, subscription)),
      );
    for (const consumer of this.consumers)
      await this.attempt(`consuming queue ${consumer.queue}`, () => consumer.start(model));
  }

  /**
   * A consumer whose channel closed while the connection stays up (its queue was deleted behind
   * Herald's back, a channel error) starts again after the redelivery delay, queue re-declared.
   * When the connection is down the next connection restarts it instead.
   */
  private async restart(consumer: QueueConsumer): Promise<void> {
    await delay(REDELIVERY_DELAY_MS);
    const model = this.connection.current();
    if (!model || !this.consumers.has(consumer)) return;
    await this.attempt(`restarting the consumer of queue ${consumer.queue}`, async () => {
      await withChannelOn(model, (amqp) => declareQueue(amqp, consumer.channel, consumer.subscription));
      await consumer.start(model);
    });
  }

  private async attempt(what: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.logger.error({ err: (error as Error).message }, `RabbitMQ: ${what} failed`);
    }
  }
}

/** RabbitmqChannel (messaging.herald.dev/v1alpha1), the channel of Brokers of class RabbitMQBroker. */
export const rabbitmqChannelPlugin = defineChannelPlugin<RabbitmqChannelSpec, RabbitmqConfig>({
  kind: rabbitmqChannelNames,
  specSchema: rabbitmqChannelSpecSchema,
  config: rabbitmqConfig,
  brokerClasses: ["RabbitMQBroker"],
  topologyKinds: rabbitmqTopologyKinds,
  create: ({ config, logger, dataDir }) => new RabbitmqChannelAdapter(config, logger, dataDir),
});
