import {
  JetStreamApiCodes,
  JetStreamApiError,
  type Consumer,
  type ConsumerMessages,
  type JsMsg,
} from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { CloudEvent } from "../../src/events/event.js";
import { REDELIVERY_DELAY_MS, type DeliveryContext, type EventHandler } from "../adapter.js";
import type { PullSettings } from "./topology.js";

/** What a pull subscription needs from the adapter. */
export interface ConsumerSource {
  /** The durable consumer, created (with its stream) when missing. */
  consumer(): Promise<Consumer>;
  /** Turns a message into the event and context handed to the handler. */
  decode(message: JsMsg): { event: CloudEvent; context: DeliveryContext };
}

/** JetStream no longer has the consumer or its stream (deleted, or a memory stream after a restart). */
export function isMissing(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.ConsumerNotFound || error.code === JetStreamApiCodes.StreamNotFound)
  );
}

/**
 * Runs one subscription on its durable pull consumer.
 *
 * It asks JetStream for no more messages than it has free handler slots (`slots`, 1 when ordered), so
 * a message never waits in a client buffer with its ack timer running, and the in-flight bound holds
 * exactly. A message is acknowledged after its handler resolved and handed back with
 * `nak(REDELIVERY_DELAY_MS)` when it rejected. While a handler runs, the message is marked in
 * progress every third of the ack wait, so JetStream does not redeliver it to another process
 * meanwhile; a process that dies stops doing that, and the message is redelivered after the ack wait.
 * Errors (NATS down, consumer deleted) are retried with a pause; the consumer is re-created when
 * missing. `close()` stops pulling, hands back any message that arrives afterwards, and waits for the
 * handler calls in flight.
 */
export class PullSubscription {
  private closed = false;
  private readonly inFlight = new Map<Promise<void>, { message: JsMsg; since: number }>();
  private pulling: ConsumerMessages | undefined;
  private slotFreed: (() => void) | undefined;
  private wake: (() => void) | undefined;
  private readonly loop: Promise<void>;
  private readonly keepAlive: NodeJS.Timeout;

  constructor(
    private readonly source: ConsumerSource,
    private readonly handler: EventHandler,
    private readonly settings: PullSettings,
    private readonly logger: Logger,
  ) {
    const every = Math.max(100, Math.floor(settings.ackWaitMs / 3));
    this.keepAlive = setInterval(() => this.markInProgress(every), every);
    this.keepAlive.unref();
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    let consumer: Consumer | undefined;
    let failures = 0;
    while (!this.closed) {
      if (this.inFlight.size >= this.settings.slots) {
        await new Promise<void>((resolve) => (this.slotFreed = resolve));
        continue;
      }
      try {
        consumer ??= await this.source.consumer();
        if (this.closed) break;
        const free = this.settings.slots - this.inFlight.size;
        const messages = await consumer.fetch({
          max_messages: Math.min(this.settings.batch, free),
          expires: this.settings.expiresMs,
        });
        this.pulling = messages;
        for await (const message of messages) this.take(message);
        failures = 0;
      } catch (error) {
        if (this.closed) break;
        consumer = undefined;
        failures++;
        const level = failures === 1 || isMissing(error) ? "warn" : "debug";
        this.logger[level]({ err: (error as Error).message }, "pulling from NATS failed; retrying");
        await this.pause(Math.min(100 * 2 ** failures, 2_000));
      } finally {
        this.pulling = undefined;
      }
    }
  }

  private take(message: JsMsg): void {
    if (this.closed) {
      // Pulled while closing: back to JetStream at once, for the next consumer.
      settle(() => message.nak());
      return;
    }
    const work = this.handle(message);
    this.inFlight.set(work, { message, since: Date.now() });
    void work.finally(() => {
      this.inFlight.delete(work);
      const freed = this.slotFreed;
      this.slotFreed = undefined;
      freed?.();
    });
  }

  private async handle(message: JsMsg): Promise<void> {
    try {
      const { event, context } = this.source.decode(message);
      await this.handler(event, context);
    } catch (error) {
      this.logger.debug(
        { err: (error as Error).message, seq: message.seq },
        "handing a message back to NATS",
      );
      settle(() => message.nak(REDELIVERY_DELAY_MS));
      return;
    }
    settle(() => message.ack());
  }

  /** Keeps JetStream from redelivering messages whose handler is still running. */
  private markInProgress(olderThanMs: number): void {
    const now = Date.now();
    for (const entry of this.inFlight.values()) {
      if (now - entry.since < olderThanMs) continue;
      settle(() => entry.message.working());
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    this.slotFreed?.();
    await this.pulling?.close();
    await this.loop;
    await Promise.allSettled([...this.inFlight.keys()]);
    clearInterval(this.keepAlive);
  }
}

/**
 * Acknowledgements are fire-and-forget: one that cannot be sent (connection lost) leaves the message
 * unacknowledged, and JetStream redelivers it after the ack wait, which at-least-once allows.
 */
function settle(acknowledge: () => void): void {
  try {
    acknowledge();
  } catch {
    // See above: redelivered later.
  }
}
