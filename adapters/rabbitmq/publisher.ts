import type { ChannelModel, ConfirmChannel } from "amqplib";
import type { Logger } from "pino";
import { backendUnavailable } from "../../src/errors.js";
import type { CloudEvent } from "../../src/events/event.js";
import { isPublishLate, untilAborted, type PublishOptions } from "../adapter.js";
import { PublishDeadlines } from "../publish-deadlines.js";
import { toAmqpMessage } from "./binding.js";
import { BACKEND, type RabbitmqConnection } from "./connection.js";

interface ConfirmSession {
  readonly model: ChannelModel;
  readonly channel: Promise<ConfirmChannel>;
  /** The channel once open, until it closes: the fast path publishes on it without waiting. */
  opened?: ConfirmChannel;
  /** Why RabbitMQ closed the channel (e.g. a publish to an exchange that no longer exists). */
  closedBecause?: string;
}

/**
 * Publishes persistent messages on one confirm channel per connection, opened on first use and
 * again after RabbitMQ closed it. `publish` resolves once RabbitMQ confirmed every message of the
 * batch (publisher confirms: the message is on disk for durable queues, replicated for quorum
 * queues) and rejects with BackendUnavailable when one is refused, the channel closes, or the
 * caller's deadline passes first (its `deadline`, else its `signal`).
 *
 * While connected, a publish goes out at once, with amqplib's per-message confirm callback; no
 * promise of the connection or the channel is awaited on the way.
 */
export class Publisher {
  private session: ConfirmSession | undefined;
  /** The publishes awaiting their confirms, rejected once past their deadline. */
  private readonly deadlines = new PublishDeadlines(BACKEND);

  constructor(
    private readonly connection: RabbitmqConnection,
    private readonly logger: Logger,
  ) {}

  publish(exchange: string, events: readonly CloudEvent[], options: PublishOptions): Promise<void> {
    const blocked = this.connection.blockedReason();
    if (blocked !== undefined)
      return Promise.reject(backendUnavailable(BACKEND, `connection blocked by the broker (${blocked})`));
    const model = this.connection.current();
    const session = model && this.session?.model === model ? this.session : undefined;
    if (session?.opened && !isPublishLate(options))
      return this.send(session, session.opened, exchange, events, options);
    return untilAborted(BACKEND, this.publishWhenOpen(exchange, events, options), options.signal);
  }

  /** Waits for the connection and the confirm channel (each bounded by `signal`), then sends. */
  private async publishWhenOpen(
    exchange: string,
    events: readonly CloudEvent[],
    options: PublishOptions,
  ): Promise<void> {
    const model = await this.connection.whenConnected(options.signal);
    const session = this.sessionOn(model);
    const channel = await session.channel;
    // The caller stopped waiting while the connection was down: send nothing it cannot hear about.
    if (isPublishLate(options))
      throw backendUnavailable(BACKEND, "no connection before the publish deadline");
    await this.send(session, channel, exchange, events, options);
  }

  private send(
    session: ConfirmSession,
    channel: ConfirmChannel,
    exchange: string,
    events: readonly CloudEvent[],
    options: PublishOptions,
  ): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        unwatch();
        if (error) reject(error);
        else resolve();
      };
      const unwatch = this.deadlines.watch(options, settle);
      let unconfirmed = events.length;
      const confirmed = (error: unknown) => {
        if (settled || (!error && --unconfirmed > 0)) return;
        if (!error) return settle();
        const reason =
          session.closedBecause ?? (error instanceof Error ? error.message : JSON.stringify(error));
        settle(backendUnavailable(BACKEND, `message not confirmed: ${reason}`));
      };
      for (const event of events) {
        const { content, options: properties } = toAmqpMessage(event);
        try {
          channel.publish(exchange, "", content, properties, confirmed);
        } catch (error) {
          // The channel closed meanwhile; amqplib confirms nothing more on it.
          confirmed(error);
          return;
        }
      }
    });
  }

  /** Rejects the publishes still waiting (the adapter closes); their confirms can no longer come. */
  close(): void {
    this.deadlines.close("the adapter is closed");
  }

  private sessionOn(model: ChannelModel): ConfirmSession {
    if (this.session?.model === model) return this.session;
    const channel = model.createConfirmChannel();
    const session: ConfirmSession = { model, channel };
    const forget = () => {
      session.opened = undefined;
      if (this.session === session) this.session = undefined;
    };
    channel.then((opened) => {
      opened.on("error", (error: Error) => {
        session.closedBecause = error.message;
        this.logger.warn({ err: error.message }, "RabbitMQ closed the publish channel");
      });
      opened.on("close", forget);
      session.opened = opened;
    }, forget);
    this.session = session;
    return session;
  }
}
