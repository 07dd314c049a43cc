import { setTimeout as delay } from "node:timers/promises";
import type { Channel, ChannelModel, ConsumeMessage } from "amqplib";
import type { Logger } from "pino";
import type { CloudEvent } from "../../src/events/event.js";
import {
  markReplayed,
  REDELIVERY_DELAY_MS,
  undecodableEvent,
  type ChannelTarget,
  type DeliveryContext,
  type EventHandler,
  type SubscriptionTarget,
} from "../adapter.js";
import { Acknowledger, type Delivery } from "./acks.js";
import { fromAmqpMessage } from "./binding.js";
import type { RabbitmqChannelSpec } from "./spec.js";
import { queueName } from "./topology.js";

export interface ConsumerOptions {
  readonly channel: ChannelTarget<RabbitmqChannelSpec>;
  readonly subscription: SubscriptionTarget;
  readonly handler: EventHandler;
  /** The channel's CloudEvents source, for messages that are not CloudEvents. */
  readonly source: string;
  readonly logger: Logger;
  /** Called when the consumer stopped while still wanted (its channel closed, its queue was deleted). */
  readonly onLost: (consumer: QueueConsumer) => void;
  /** For a stream queue: where to start, and the position as messages are handled. */
  readonly stream?: StreamCursor | undefined;
}

/** A subscription's position in a stream queue (RabbitMQ keeps none for AMQP 0-9-1 consumers). */
export interface StreamCursor {
  /** The `x-stream-offset` to consume from. */
  start(): unknown;
  /** A message is handed over (its offset) or `done` with. */
  taken(offset: number): void;
  done(offset: number): void;
  /** What to do with a message: skip it (before a replay's time), or hand it over, marked or not. */
  verdict(message: ConsumeMessage): { skip: true } | { skip: false; mark: string | undefined };
}

/** One AMQP channel a consumer reads on; a new connection means a new session. */
interface Session {
  readonly model: ChannelModel;
  readonly amqp: Channel;
  readonly acks: Acknowledger;
  tag?: string;
  open: boolean;
}

/**
 * One subscription's consumer of its queue. Manual acks: a message is acked only after the handler
 * resolved, in batches (acks.ts: one `multiple` ack for the finished prefix of delivery tags).
 * Prefetch bounds the handler calls in flight: 1 when ordered, else the subscription's maxInFlight,
 * or the channel's `prefetch` when that is smaller.
 *
 * A rejected message is retried in place after REDELIVERY_DELAY_MS, in both modes, and never nacked:
 * RabbitMQ hands a requeued message out again at once, and a quorum queue puts it behind the later
 * ones. When the consumer closes, a message it holds stays unacknowledged until the channel closes,
 * which returns it to its place in the queue; when the channel closed meanwhile (connection lost),
 * RabbitMQ has returned it already and the retry stops.
 */
export class QueueConsumer {
  readonly queue: string;
  private session: Session | undefined;
  private starting: Promise<void> | undefined;
  private stopping = false;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly options: ConsumerOptions) {
    this.queue = queueName(options.channel, options.subscription);
  }

  get channel(): ChannelTarget<RabbitmqChannelSpec> {
    return this.options.channel;
  }

  get subscription(): SubscriptionTarget {
    return this.options.subscription;
  }

  /** Starts consuming on `model`; does nothing when already consuming there or when closed. */
  async start(model: ChannelModel): Promise<void> {
    if (this.stopping || (this.session?.open && this.session.model === model)) return;
    await this.starting?.catch(() => undefined);
    if (this.stopping || (this.session?.open && this.session.model === model)) return;
    this.starting = this.consume(model);
    await this.starting;
  }

  /** Stops taking messages, waits for handler calls in flight; the rest stays in the queue. */
  async close(): Promise<void> {
    this.stopping = true;
    await this.starting?.catch(() => undefined);
    const session = this.session;
    if (session?.open && session.tag !== undefined)
      await session.amqp.cancel(session.tag).catch(() => undefined);
    await Promise.allSettled([...this.inFlight]);
    session?.acks.flush(true);
    // Closing the channel hands every unacknowledged message back to RabbitMQ.
    await session?.amqp.close().catch(() => undefined);
  }

  private async consume(model: ChannelModel): Promise<void> {
    const amqp = await model.createChannel();
    const prefetch = prefetchOf(this.options.channel, this.options.subscription);
    const session: Session = {
      model,
      amqp,
      acks: new Acknowledger(amqp, () => session.open, Math.max(1, Math.floor(prefetch / 2))),
      open: true,
    };
    this.session = session;
    amqp.on("error", (error: Error) =>
      this.options.logger.warn(
        { err: error.message, queue: this.queue },
        "RabbitMQ closed a consumer channel",
      ),
    );
    amqp.on("close", () => {
      session.open = false;
      if (!this.stopping) this.options.onLost(this);
    });
    await amqp.prefetch(prefetch);
    const { stream } = this.options;
    const consumeOptions = stream ? { arguments: { "x-stream-offset": stream.start() } } : {};
    const { consumerTag } = await amqp.consume(
      this.queue,
      (message) => {
        if (message === null) {
          // RabbitMQ cancelled the consumer (its queue was deleted); closing the channel reports it lost.
          void amqp.close().catch(() => undefined);
          return;
        }
        // After close began, a late delivery stays unacknowledged and returns to the queue.
        if (this.stopping) return;
        // Tracked here, in the order of delivery tags, for the batched acks.
        const delivery = session.acks.track(message);
        const work: Promise<unknown> = stream
          ? this.handleStream(session, message, delivery, stream)
          : this.handle(session, message, delivery);
        this.inFlight.add(work);
        void work.finally(() => this.inFlight.delete(work));
      },
      consumeOptions,
    );
    session.tag = consumerTag;
  }

  /** A stream message: handled like a queue's, its offset reported to the cursor. */
  private async handleStream(
    session: Session,
    message: ConsumeMessage,
    delivery: Delivery,
    stream: StreamCursor,
  ): Promise<void> {
    const offset = Number(message.properties.headers?.["x-stream-offset"]);
    stream.taken(offset);
    const verdict = stream.verdict(message);
    if (verdict.skip) {
      session.acks.done(delivery);
      stream.done(offset);
      return;
    }
    const handled = await this.handle(session, message, delivery, verdict.mark);
    if (handled) stream.done(offset);
  }

  /** Resolves true once the handler resolved (and the message was acked). */
  private async handle(
    session: Session,
    message: ConsumeMessage,
    delivery: Delivery,
    mark?: string,
  ): Promise<boolean> {
    const decoded = this.decode(message);
    const { context } = decoded;
    const event =
      mark === undefined || context.undecodable ? decoded.event : markReplayed(decoded.event, mark);
    for (;;) {
      try {
        await this.options.handler(event, context);
        session.acks.done(delivery);
        return true;
      } catch (error) {
        this.options.logger.debug(
          { err: (error as Error).message, queue: this.queue },
          "the handler rejected a message; retrying it after the redelivery delay",
        );
      }
      await delay(REDELIVERY_DELAY_MS);
      if (!session.open || this.stopping) return false;
    }
  }

  private decode(message: ConsumeMessage): { event: CloudEvent; context: DeliveryContext } {
    const decoded = fromAmqpMessage(message);
    if (typeof decoded !== "string") return { event: decoded, context: {} };
    const messageId: unknown = message.properties.messageId;
    return undecodableEvent({
      id:
        typeof messageId === "string" || typeof messageId === "number"
          ? String(messageId)
          : `${this.queue}#${message.fields.deliveryTag}`,
      source: this.options.source,
      body: message.content,
      reason: decoded,
    });
  }
}

/** Unacknowledged deliveries at once: 1 when ordered, else maxInFlight or the channel's smaller `prefetch`. */
export function prefetchOf(
  channel: ChannelTarget<RabbitmqChannelSpec>,
  subscription: SubscriptionTarget,
): number {
  if (subscription.ordering === "ordered") return 1;
  return Math.min(subscription.maxInFlight, channel.spec.prefetch ?? subscription.maxInFlight);
}
