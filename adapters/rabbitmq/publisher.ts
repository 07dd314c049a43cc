import type { ChannelModel, ConfirmChannel } from "amqplib";
import type { Logger } from "pino";
import { backendUnavailable } from "../../src/errors.js";
import type { CloudEvent } from "../../src/events/event.js";
import { isPublishLate, untilAborted, type PublishOptions } from "../adapter.js";
import { toAmqpMessage } from "./binding.js";
import { BACKEND, type RabbitmqConnection } from "./connection.js";

/**
 * How often publishes awaiting their confirm are checked against their deadline. One sweep instead
 * of an abort listener and a race per publish: a publish past its deadline is rejected at most this
 * much later than the signal aborted.
 */
export const DEADLINE_SWEEP_MS = 50;

const NOT_CONFIRMED_IN_TIME = "no acknowledgement before the publish deadline";

interface ConfirmSession {
  readonly model: ChannelModel;
  readonly channel: Promise<ConfirmChannel>;
  /** The channel once open, until it closes: the fast path publishes on it without waiting. */
  opened?: ConfirmChannel;
  /** Why RabbitMQ closed the channel (e.g. a publish to an exchange that no longer exists). */
  closedBecause?: string;
}

/** One publish call awaiting the confirms of its messages. */
interface Pending {
  readonly options: PublishOptions;
  readonly reject: (error: Error) => void;
  settled: boolean;
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
  private readonly waiting = new Set<Pending>();
  private sweep: NodeJS.Timeout | undefined;

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
      const pending: Pending = { options, reject, settled: false };
      let unconfirmed = events.length;
      const confirmed = (error: unknown) => {
        if (pending.settled) return;
        if (!error && --unconfirmed > 0) return;
        pending.settled = true;
        this.waiting.delete(pending);
        if (!error) return resolve();
        const reason =
          session.closedBecause ?? (error instanceof Error ? error.message : JSON.stringify(error));
        reject(backendUnavailable(BACKEND, `message not confirmed: ${reason}`));
      };
      this.waiting.add(pending);
      this.sweep ??= setInterval(() => this.rejectLate(), DEADLINE_SWEEP_MS);
      for (const event of events) {
        const { content, options } = toAmqpMessage(event);
        try {
          channel.publish(exchange, "", content, options, confirmed);
        } catch (error) {
          // The channel closed meanwhile; amqplib confirms nothing more on it.
          confirmed(error);
          return;
        }
      }
    });
  }

  /** The sweep: rejects the publishes past their deadline; stops when none waits. */
  private rejectLate(): void {
    for (const pending of this.waiting) {
      if (!isPublishLate(pending.options)) continue;
      pending.settled = true;
      this.waiting.delete(pending);
      pending.reject(backendUnavailable(BACKEND, NOT_CONFIRMED_IN_TIME));
    }
    if (this.waiting.size === 0) {
      clearInterval(this.sweep);
      this.sweep = undefined;
    }
  }

  /** Rejects the publishes still waiting (the adapter closes); their confirms can no longer come. */
  close(): void {
    for (const pending of this.waiting) {
      pending.settled = true;
      pending.reject(backendUnavailable(BACKEND, "the adapter is closed"));
    }
    this.waiting.clear();
    clearInterval(this.sweep);
    this.sweep = undefined;
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
