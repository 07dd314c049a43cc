import { readFileSync } from "node:fs";
import {
  connect,
  type Channel,
  type ChannelModel,
  type ConfirmChannel,
  type ConsumeMessage,
  type RecoveringChannelModel,
} from "amqplib";
import type { Logger } from "pino";
import type { HeraldConfig } from "../../src/config.js";
import { backendUnavailable, HeraldError } from "../../src/errors.js";
import type { CloudEvent } from "../../src/events/event.js";
import { durationToMs } from "../../src/resources/duration.js";
import { rabbitmqChannelSpecSchema, type RabbitmqChannelSpec } from "../../src/resources/rabbitmq-channel.js";
import {
  UNDECODABLE_EVENT_TYPE,
  type AdapterFactory,
  type ChannelAdapter,
  type ChannelTarget,
  type EventHandler,
  type SubscriptionHandle,
  type SubscriptionTarget,
} from "../adapter.js";
import { fromAmqpMessage, toAmqpMessage } from "./binding.js";

/**
 * RabbitmqChannel on RabbitMQ (AMQP 0-9-1).
 *
 * Topology, declared when resources are applied and removed with them:
 *   exchange  herald.{namespace}.{channel}                     durable fanout, one per channel
 *   queue     herald.{namespace}.{channel}.{subscription}      durable (quorum by default), one per
 *             Subscription, bound to the channel's exchange, so every subscription sees every event
 *
 * Publish: persistent messages on a confirm channel; `publish` resolves after RabbitMQ confirmed
 * every message of the batch. Dispatch: manual acks with a bounded prefetch; a message is acked only
 * after the handler resolved (delivered or dead-lettered). Ordered subscriptions use prefetch 1 and
 * retry a rejected event in place, so the next one never overtakes it. The connection recovers by
 * itself (amqplib recovery) and every reconnect re-declares the topology and restarts consumers.
 */
const ORDERED_RETRY_MS = 1_000;

export function exchangeName(channel: { namespace: string; name: string }): string {
  return `herald.${channel.namespace}.${channel.name}`;
}

export function queueName(
  channel: { namespace: string; name: string },
  subscription: { name: string },
): string {
  return `herald.${channel.namespace}.${channel.name}.${subscription.name}`;
}

interface Consumer {
  channel: ChannelTarget;
  subscription: SubscriptionTarget;
  handler: EventHandler;
  amqp?: Channel | undefined;
  tag?: string | undefined;
  closed: boolean;
  inFlight: Set<Promise<void>>;
}

class RabbitmqChannelAdapter implements ChannelAdapter {
  readonly kind = "RabbitmqChannel";
  private connection: RecoveringChannelModel | undefined;
  private model: ChannelModel | undefined;
  private publisher: ConfirmChannel | undefined;
  private blocked: string | undefined;
  private readonly channels = new Map<string, ChannelTarget>();
  private readonly queues = new Map<string, { channel: ChannelTarget; subscription: SubscriptionTarget }>();
  private readonly consumers = new Set<Consumer>();

  constructor(
    private readonly config: HeraldConfig,
    private readonly logger: Logger,
  ) {}

  private url(): string {
    const { urlFile, url } = this.config.rabbitmq;
    return urlFile ? readFileSync(urlFile, "utf8").trim() : url;
  }

  /** Connects once; the recovering connection reconnects by itself and re-runs `setup`. */
  private async connection_(): Promise<RecoveringChannelModel> {
    if (this.connection) return this.connection;
    const connection = await connect(this.url(), {
      clientProperties: { connection_name: "herald" },
      recovery: {
        initialDelay: 200,
        maxDelay: 5_000,
        waitForConnect: false,
        setup: (model: ChannelModel) => this.setup(model),
      },
    });
    connection.on("disconnect", (error: Error) => {
      this.model = undefined;
      this.publisher = undefined;
      this.logger.warn({ err: error.message }, "RabbitMQ connection lost; reconnecting");
    });
    connection.on("blocked", (reason: string) => (this.blocked = reason));
    connection.on("unblocked", () => (this.blocked = undefined));
    connection.on("error", (error: Error) =>
      this.logger.warn({ err: error.message }, "RabbitMQ connection error"),
    );
    this.connection = connection;
    return connection;
  }

  /** After every (re)connection: topology, publisher, consumers. */
  private async setup(model: ChannelModel): Promise<void> {
    const channel = await model.createChannel();
    for (const target of this.channels.values()) await this.declareExchange(channel, target);
    for (const { channel: target, subscription } of this.queues.values())
      await this.declareQueue(channel, target, subscription);
    await channel.close();
    const publisher = await model.createConfirmChannel();
    publisher.on("error", (error: Error) =>
      this.logger.warn({ err: error.message }, "RabbitMQ publish channel error"),
    );
    publisher.on("close", () => {
      if (this.publisher === publisher) this.publisher = undefined;
    });
    this.publisher = publisher;
    this.model = model;
    this.blocked = undefined;
    for (const consumer of this.consumers) await this.startConsumer(model, consumer);
    this.logger.info("RabbitMQ connected");
  }

  private async ready(): Promise<ChannelModel> {
    await this.connection_();
    const deadline = Date.now() + this.config.publishTimeoutMs;
    while (!this.model && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    if (!this.model) throw backendUnavailable("RabbitMQ", "not connected");
    return this.model;
  }

  private spec(channel: ChannelTarget): RabbitmqChannelSpec {
    return rabbitmqChannelSpecSchema.parse(channel.spec);
  }

  private async declareExchange(amqp: Channel, channel: ChannelTarget): Promise<void> {
    await amqp.assertExchange(exchangeName(channel), "fanout", { durable: true });
  }

  private async declareQueue(
    amqp: Channel,
    channel: ChannelTarget,
    subscription: SubscriptionTarget,
  ): Promise<void> {
    const spec = this.spec(channel);
    const args: Record<string, unknown> = { "x-queue-type": spec.queueType };
    const ttl = spec.messageTtl ? durationToMs(spec.messageTtl) : undefined;
    if (ttl !== undefined) args["x-message-ttl"] = Math.round(ttl);
    const queue = queueName(channel, subscription);
    await amqp.assertQueue(queue, { durable: true, arguments: args });
    await amqp.bindQueue(queue, exchangeName(channel), "");
  }

  /** Runs `work` on a short-lived channel (a failed declaration closes only that channel). */
  private async withChannel<T>(work: (amqp: Channel) => Promise<T>): Promise<T> {
    const model = await this.ready();
    const amqp = await model.createChannel();
    amqp.on("error", () => undefined);
    try {
      return await work(amqp);
    } finally {
      await amqp.close().catch(() => undefined);
    }
  }

  async createChannel(channel: ChannelTarget) {
    this.spec(channel);
    this.channels.set(`${channel.namespace}/${channel.name}`, channel);
    await this.withChannel((amqp) => this.declareExchange(amqp, channel));
    return { exchange: exchangeName(channel) };
  }

  async deleteChannel(channel: ChannelTarget): Promise<void> {
    this.channels.delete(`${channel.namespace}/${channel.name}`);
    const queues = [...this.queues.entries()].filter(
      ([, q]) => q.channel.namespace === channel.namespace && q.channel.name === channel.name,
    );
    for (const [name] of queues) this.queues.delete(name);
    await this.withChannel(async (amqp) => {
      for (const [name] of queues) await amqp.deleteQueue(name);
      await amqp.deleteExchange(exchangeName(channel));
    });
  }

  async publish(channel: ChannelTarget, events: readonly CloudEvent[]): Promise<void> {
    if (this.blocked)
      throw backendUnavailable("RabbitMQ", `connection blocked by the broker (${this.blocked})`);
    await this.ready();
    const publisher = this.publisher;
    if (!publisher) throw backendUnavailable("RabbitMQ", "not connected");
    const exchange = exchangeName(channel);
    const confirms = events.map(
      (event) =>
        new Promise<void>((resolve, reject) => {
          const { content, options } = toAmqpMessage(event);
          try {
            publisher.publish(exchange, "", content, options, (error) =>
              error ? reject(new Error("message nacked by RabbitMQ")) : resolve(),
            );
          } catch (error) {
            reject(error as Error);
          }
        }),
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no publisher confirm within ${this.config.publishTimeoutMs} ms`)),
        this.config.publishTimeoutMs,
      );
    });
    try {
      await Promise.race([Promise.all(confirms), timeout]);
    } catch (error) {
      throw error instanceof HeraldError ? error : backendUnavailable("RabbitMQ", error);
    } finally {
      clearTimeout(timer);
    }
  }

  async subscribe(
    channel: ChannelTarget,
    subscription: SubscriptionTarget,
    handler: EventHandler,
  ): Promise<SubscriptionHandle> {
    this.queues.set(queueName(channel, subscription), { channel, subscription });
    await this.withChannel((amqp) => this.declareQueue(amqp, channel, subscription));
    const consumer: Consumer = { channel, subscription, handler, closed: false, inFlight: new Set() };
    this.consumers.add(consumer);
    if (this.model) await this.startConsumer(this.model, consumer);
    return {
      close: async () => {
        consumer.closed = true;
        this.consumers.delete(consumer);
        await Promise.allSettled([...consumer.inFlight]);
        if (consumer.amqp && consumer.tag) await consumer.amqp.cancel(consumer.tag).catch(() => undefined);
        await consumer.amqp?.close().catch(() => undefined);
      },
    };
  }

  private async startConsumer(model: ChannelModel, consumer: Consumer): Promise<void> {
    const amqp = await model.createChannel();
    amqp.on("error", (error: Error) =>
      this.logger.warn({ err: error.message }, "RabbitMQ consumer channel error"),
    );
    const ordered = consumer.subscription.ordering === "ordered";
    const prefetch = ordered
      ? 1
      : Math.min(consumer.subscription.maxInFlight, this.spec(consumer.channel).prefetch);
    await amqp.prefetch(prefetch);
    consumer.amqp = amqp;
    const queue = queueName(consumer.channel, consumer.subscription);
    const { consumerTag } = await amqp.consume(queue, (message) => {
      if (!message) return;
      const work = this.handle(amqp, consumer, message, ordered);
      consumer.inFlight.add(work);
      void work.finally(() => consumer.inFlight.delete(work));
    });
    consumer.tag = consumerTag;
  }

  private async handle(
    amqp: Channel,
    consumer: Consumer,
    message: ConsumeMessage,
    ordered: boolean,
  ): Promise<void> {
    const decoded = fromAmqpMessage(message);
    const event: CloudEvent =
      typeof decoded === "string"
        ? {
            attributes: {
              specversion: "1.0",
              id: message.properties.messageId
                ? String(message.properties.messageId)
                : `${queueName(consumer.channel, consumer.subscription)}#${message.fields.deliveryTag}`,
              source: `/apis/messaging.herald.dev/v1alpha1/namespaces/${consumer.channel.namespace}/rabbitmqchannels/${consumer.channel.name}`,
              type: UNDECODABLE_EVENT_TYPE,
              datacontenttype:
                typeof message.properties.contentType === "string"
                  ? message.properties.contentType
                  : "application/octet-stream",
            },
            data: message.content,
          }
        : decoded;
    const context = { undecodable: typeof decoded === "string" ? decoded : undefined };
    for (;;) {
      try {
        await consumer.handler(event, context);
        amqp.ack(message);
        return;
      } catch (error) {
        // Ordered: retry in place, since a requeue would let later messages overtake this one.
        if (ordered && !consumer.closed) {
          await new Promise((resolve) => setTimeout(resolve, ORDERED_RETRY_MS));
          continue;
        }
        this.logger.debug({ err: (error as Error).message }, "handing a message back to RabbitMQ");
        try {
          amqp.nack(message, false, true);
        } catch {
          // The channel is gone: RabbitMQ requeues unacked messages by itself.
        }
        return;
      }
    }
  }

  async deleteSubscription(channel: ChannelTarget, subscription: SubscriptionTarget): Promise<void> {
    const queue = queueName(channel, subscription);
    this.queues.delete(queue);
    await this.withChannel((amqp) => amqp.deleteQueue(queue).then(() => undefined));
  }

  async isReady(): Promise<boolean> {
    return this.model !== undefined && !this.blocked;
  }

  async close(): Promise<void> {
    for (const consumer of this.consumers) consumer.closed = true;
    await Promise.allSettled([...this.consumers].flatMap((c) => [...c.inFlight]));
    this.consumers.clear();
    await this.connection?.close().catch(() => undefined);
    this.connection = undefined;
    this.model = undefined;
  }
}

export const rabbitmqChannelAdapter: AdapterFactory = {
  kind: "RabbitmqChannel",
  create: ({ config, logger }) => new RabbitmqChannelAdapter(config, logger),
};
