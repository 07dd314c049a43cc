import type { ChannelModel, ConfirmChannel } from "amqplib";
import type { Logger } from "pino";
import { backendUnavailable } from "../../src/errors.js";
import type { CloudEvent } from "../../src/events/event.js";
import { toAmqpMessage } from "./binding.js";
import { BACKEND, type RabbitmqConnection } from "./connection.js";

interface ConfirmSession {
  readonly model: ChannelModel;
  readonly channel: Promise<ConfirmChannel>;
  /** Why RabbitMQ closed the channel (e.g. a publish to an exchange that no longer exists). */
  closedBecause?: string;
}

/**
 * Publishes persistent messages on one confirm channel per connection, opened on first use and
 * again after RabbitMQ closed it. `publish` resolves once RabbitMQ confirmed every message of the
 * batch (publisher confirms: the message is on disk for durable queues, replicated for quorum
 * queues) and has no deadline of its own: the caller's signal is the deadline.
 */
export class Publisher {
  private session: ConfirmSession | undefined;

  constructor(
    private readonly connection: RabbitmqConnection,
    private readonly logger: Logger,
  ) {}

  async publish(exchange: string, events: readonly CloudEvent[], signal: AbortSignal): Promise<void> {
    const blocked = this.connection.blockedReason();
    if (blocked !== undefined)
      throw backendUnavailable(BACKEND, `connection blocked by the broker (${blocked})`);
    const model = await this.connection.whenConnected(signal);
    const session = this.sessionOn(model);
    const channel = await session.channel;
    // The caller stopped waiting while the connection was down: send nothing it cannot hear about.
    if (signal.aborted) throw backendUnavailable(BACKEND, "no connection before the publish deadline");
    await Promise.all(
      events.map(
        (event) =>
          new Promise<void>((resolve, reject) => {
            const { content, options } = toAmqpMessage(event);
            const confirmed = (error: unknown) => {
              if (!error) return resolve();
              const reason =
                session.closedBecause ?? (error instanceof Error ? error.message : JSON.stringify(error));
              reject(backendUnavailable(BACKEND, `message not confirmed: ${reason}`));
            };
            try {
              channel.publish(exchange, "", content, options, confirmed);
            } catch (error) {
              confirmed(error);
            }
          }),
      ),
    );
  }

  private sessionOn(model: ChannelModel): ConfirmSession {
    if (this.session?.model === model) return this.session;
    const channel = model.createConfirmChannel();
    const session: ConfirmSession = { model, channel };
    const forget = () => {
      if (this.session === session) this.session = undefined;
    };
    channel.then((opened) => {
      opened.on("error", (error: Error) => {
        session.closedBecause = error.message;
        this.logger.warn({ err: error.message }, "RabbitMQ closed the publish channel");
      });
      opened.on("close", forget);
    }, forget);
    this.session = session;
    return session;
  }
}
