import { Duration, type Message, type PubSub, type Subscription } from "@google-cloud/pubsub";
import type { Logger } from "pino";
import type { CloudEvent } from "../../src/events/event.js";
import {
  markReplayed,
  REDELIVERY_DELAY_MS,
  undecodableEvent,
  type DeliveryContext,
  type EventHandler,
  type SubscriptionTarget,
} from "../adapter.js";
import { decodeMessage } from "./binding.js";
import type { ChannelTopology } from "./topology.js";

/** gRPC status NOT_FOUND: the topic or subscription is gone (an emulator restart, a manual delete). */
export const NOT_FOUND = 5;
/** Pub/Sub's largest ack deadline, in seconds. */
const MAX_ACK_DEADLINE_SECONDS = 600;
/** How long the client library keeps extending the deadline of a message a handler still works on. */
const MAX_LEASE = Duration.from({ hours: 24 });
const RESTART_DELAY_MS = 1_000;
/**
 * How long closing a stream waits for its last acks and nacks to be sent (the client retries them
 * while Pub/Sub is unreachable); one not sent by then is redelivered after the ack deadline.
 */
const CLOSE_TIMEOUT = Duration.from({ seconds: 10 });
/**
 * How long acks (and nacks) wait to share a request (1 ms for an ordered subscription, which holds
 * one message at a time). The library frees a message's flow-control slot only once its ack was
 * sent, so this delay adds to every event's hold on the window: the library's 100 ms capped a
 * subscription at maxInFlight / 0.1 s events per second. The count that flushes a batch at once
 * stays the library's (3 000): the window never holds that many, and a count reached while adding
 * makes the library flush before queueing, which lost the nacks of a closing stream.
 */
const ACK_BATCH_MS = { ordered: 1, unordered: 5 } as const;
/**
 * Streaming pulls of an unordered subscription (an ordered one uses one, so that a key's messages
 * reach one stream in order). Google's emulator hands out about 2 000 messages per second on one
 * stream however large the window, so two streams capped delivery near 4 000/s; four reach about
 * 8 000/s there, and eight no more. The library's default is five.
 */
const UNORDERED_STREAMS = 4;
/** Flow-control bytes per in-flight slot (Pub/Sub messages are at most 10 MB). */
const BYTES_PER_SLOT = 1024 * 1024;
const RETRY_MAX_BACKOFF = Duration.from({ seconds: 5 });

export interface ConsumerOptions {
  readonly client: PubSub;
  /** Full name of the Pub/Sub subscription. */
  readonly name: string;
  readonly topology: ChannelTopology;
  readonly subscription: SubscriptionTarget;
  readonly handler: EventHandler;
  readonly logger: Logger;
  /** The CloudEvents `source` of the events that wrap undecodable messages. */
  readonly channelSource: string;
  /** Creates the topic and this subscription again when they are gone. */
  readonly recreateTopology: () => Promise<void>;
  /** The replay sought on this subscription, if any: messages published before `until` are marked. */
  readonly replay?: (() => { readonly mark: string; readonly until: number } | undefined) | undefined;
}

/**
 * Streaming pull for one Herald Subscription.
 *
 * - Flow control: at most `maxInFlight` messages (1 when ordered), and maxInFlight MiB, are held by
 *   handlers at once; the library does not hand over more until one of them is acked or nacked.
 *   Acks and nacks are sent in batches, at most ACK_BATCH_MS after the first.
 * - Ack after the handler resolved; nack `REDELIVERY_DELAY_MS` after it rejected (the message stays
 *   leased and holds its flow-control slot meanwhile), so a handler that keeps rejecting is never
 *   called in a hot loop. While a handler runs, the library keeps extending the message's ack
 *   deadline (lease management, up to 24 hours), so a slow handler does not cause a redelivery;
 *   `extendDeadline(ms)` additionally keeps the message leased for `ms` even past that, with modAcks
 *   of its own.
 * - Ordered: Pub/Sub redelivers a nacked message and every later one of its ordering key (message
 *   ordering). Later messages of that key that arrive before the nacked one came back are nacked
 *   without calling the handler, so a key's events reach the handler successfully only in order.
 * - Recovery: a stream that fails with NOT_FOUND (the emulator restarted, the subscription was
 *   deleted) re-creates the topology and reopens; other failures reopen after a short delay.
 */
export class PubSubConsumer {
  private subscription: Subscription | undefined;
  private closing = false;
  private readonly inFlight = new Set<Promise<void>>();
  /** Ordering key → id of the nacked message that must come back before the key moves on. */
  private readonly blockedKeys = new Map<string, string>();
  private restarting: Promise<void> | undefined;

  constructor(private readonly options: ConsumerOptions) {}

  start(): void {
    const { client, name, subscription, topology } = this.options;
    const ordered = subscription.ordering === "ordered";
    const window = ordered ? 1 : subscription.maxInFlight;
    const deadline = Duration.from({ seconds: topology.ackDeadlineSeconds });
    const pull = client.subscription(name, {
      flowControl: {
        maxMessages: window,
        maxBytes: window * BYTES_PER_SLOT,
        allowExcessMessages: false,
      },
      batching: { maxMilliseconds: ACK_BATCH_MS[subscription.ordering] },
      minAckDeadline: deadline,
      maxAckDeadline: deadline,
      maxExtensionTime: MAX_LEASE,
      // Nack what the library holds but never handed over, so the next consumer gets it at once.
      closeOptions: { behavior: "NACK", timeout: CLOSE_TIMEOUT },
      streamingOptions: {
        maxStreams: ordered ? 1 : UNORDERED_STREAMS,
        retryMaxBackoff: RETRY_MAX_BACKOFF,
      },
    });
    pull.on("message", (message: Message) => this.receive(pull, message));
    pull.on("error", (error: Error & { code?: number }) => this.restart(pull, error));
    this.subscription = pull;
  }

  private receive(from: Subscription, message: Message): void {
    // A stream being closed (close, restart) may still hand over what the library held.
    if (this.closing || from !== this.subscription) {
      message.nack();
      return;
    }
    const key = this.options.subscription.ordering === "ordered" ? message.orderingKey : undefined;
    if (key) {
      const waitingFor = this.blockedKeys.get(key);
      if (waitingFor !== undefined && waitingFor !== message.id) {
        message.nack();
        return;
      }
      this.blockedKeys.delete(key);
    }
    const { event, reason } = this.decode(message);
    // A lease of its own only for a message whose handler asks for more time (a retry wait).
    let lease: Lease | undefined;
    let settled = false;
    const context: DeliveryContext = {
      undecodable: reason,
      extendDeadline: (ms) => {
        if (!settled) (lease ??= new Lease(message, this.options.topology.ackDeadlineSeconds)).extend(ms);
      },
    };
    const handled = this.options.handler(event, context).then(
      () => {
        settled = true;
        lease?.end();
        message.ack();
      },
      async () => {
        settled = true;
        lease?.end();
        if (key) this.blockedKeys.set(key, message.id);
        await delay(REDELIVERY_DELAY_MS);
        message.nack();
      },
    );
    this.inFlight.add(handled);
    void handled.finally(() => this.inFlight.delete(handled));
  }

  private decode(message: Message): { event: CloudEvent; reason?: string | undefined } {
    const decoded = decodeMessage(message.data, message.attributes);
    if (decoded.event) {
      const replay = this.options.replay?.();
      if (replay && message.publishTime.getTime() < replay.until)
        return { event: markReplayed(decoded.event, replay.mark) };
      return { event: decoded.event };
    }
    const { event } = undecodableEvent({
      id: message.id,
      source: this.options.channelSource,
      body: message.data,
      reason: decoded.reason,
    });
    return { event, reason: decoded.reason };
  }

  private restart(failed: Subscription, error: Error & { code?: number }): void {
    if (this.closing || failed !== this.subscription || this.restarting) return;
    const { logger, name } = this.options;
    const isGone = error.code === NOT_FOUND;
    logger.warn(
      { subscription: name, err: error.message },
      isGone ? "Pub/Sub subscription is gone, re-creating it" : "Pub/Sub stream failed, reopening",
    );
    this.subscription = undefined;
    this.restarting = (async () => {
      await failed.close().catch(() => undefined);
      failed.removeAllListeners("message");
      // Handlers still running settle through the old stream first, so the bound on concurrent
      // calls (and the order of an ordered subscription) holds across the reopen.
      await Promise.allSettled([...this.inFlight]);
      for (;;) {
        if (this.closing) return;
        if (!isGone) await delay(RESTART_DELAY_MS);
        try {
          if (isGone) await this.options.recreateTopology();
          break;
        } catch (cause) {
          logger.warn(
            { subscription: name, err: (cause as Error).message },
            "cannot re-create Pub/Sub topology yet",
          );
          await delay(RESTART_DELAY_MS);
        }
      }
      if (!this.closing) this.start();
    })().finally(() => {
      this.restarting = undefined;
    });
  }

  /** Stops taking messages, waits for handler calls in flight, then closes the stream. */
  async close(): Promise<void> {
    this.closing = true;
    await this.restarting;
    await Promise.allSettled([...this.inFlight]);
    const pull = this.subscription;
    this.subscription = undefined;
    if (pull) {
      // Nacks what the library still holds (never handed to a handler) and waits until pending acks
      // and nacks are sent. The message listener stays until then: removing the last one makes the
      // library close the stream on its own, without waiting, and the caller may close the client
      // (adapter close) before a nack went out, which then waits for the ack deadline.
      await pull.close().catch((error: unknown) => {
        this.options.logger.warn(
          { subscription: this.options.name, err: (error as Error).message },
          "closing Pub/Sub stream failed",
        );
      });
      pull.removeAllListeners("message");
    }
  }
}

/**
 * Keeps one message leased for a time the handler asks for (DeliveryContext.extendDeadline), by
 * sending modAcks of at most Pub/Sub's 600 s before the previous one runs out.
 */
class Lease {
  private until = 0;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(
    private readonly message: Message,
    private readonly ackDeadlineSeconds: number,
  ) {}

  extend(ms: number): void {
    if (this.ended || !(ms > 0)) return;
    this.until = Math.max(this.until, Date.now() + ms);
    this.renew();
  }

  private renew(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const remainingMs = this.until - Date.now();
    if (this.ended || remainingMs <= 0) return;
    const seconds = Math.min(
      MAX_ACK_DEADLINE_SECONDS,
      Math.max(this.ackDeadlineSeconds, Math.ceil(remainingMs / 1000)),
    );
    this.message.modAck(seconds);
    // Renew well within the shortest deadline that may be in force (the library's own lease
    // extensions use the channel's ack deadline).
    this.timer = setTimeout(() => this.renew(), (this.ackDeadlineSeconds * 1000) / 2);
    this.timer.unref();
  }

  end(): void {
    this.ended = true;
    clearTimeout(this.timer);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
