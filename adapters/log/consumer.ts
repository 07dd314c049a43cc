import { performance } from "node:perf_hooks";
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
import { decodeEvent } from "./record.js";
import type { ReadResult } from "./segments.js";

/** What a subscription needs from its channel's log. */
export interface SubscriptionSource {
  /** The channel's source URI (for events wrapping an undecodable record). */
  readonly source: string;
  /** The position after the last record a reader may take. */
  end(): number;
  /** A record appended lately, as it was published, when it is still held in memory. */
  cached(position: number): { readonly event: CloudEvent; readonly next: number } | undefined;
  read(position: number, maxBytes: number): Promise<ReadResult>;
  /** Calls `wake` once after the next append (or soon, for a log written elsewhere); returns a cancel. */
  waitForAppend(wake: () => void): () => void;
  /** The subscription's committed position moved (retention reads it). */
  committed(subscription: SubscriptionTarget, position: number): void;
  /** Stores the committed position (and the replay in progress, if any); `durable` syncs it. */
  store(
    subscription: SubscriptionTarget,
    position: number,
    durable: boolean,
    replay: Replay | undefined,
  ): Promise<void>;
}

/** A replay in progress: records before `until` are handed over marked with `mark`. */
export interface Replay {
  readonly until: number;
  readonly mark: string;
}

interface Entry {
  /** The start (see `restart`) this entry was read under; entries of an earlier one are dropped. */
  readonly generation: number;
  readonly position: number;
  readonly next: number;
  readonly event: CloudEvent;
  readonly context: DeliveryContext;
  done: boolean;
  /** `performance.now()` before which a rejected entry is not handed over again. */
  due: number;
}

const EMPTY_CONTEXT: DeliveryContext = Object.freeze({});
/** Records read ahead of the handler: refilled below LOW, up to HIGH. */
const READ_AHEAD_HIGH = 512;
const READ_AHEAD_LOW = 128;
const READ_BYTES = 256 * 1024;
/** How often the committed position is written while events are acknowledged. */
const COMMIT_INTERVAL_MS = 100;
/** Pause after a failed read before trying again. */
const READ_RETRY_MS = 1_000;

/**
 * One subscription consuming a channel's log from its committed position.
 *
 * Records are read ahead (from memory for the latest ones, else from disk with their checksums
 * checked) and handed to the handler: one at a time in log order when ordered, up to `maxInFlight`
 * at once when unordered. The committed position is the start of the oldest record not yet
 * acknowledged, so a crash redelivers at most what was in flight or acknowledged out of order after
 * it, never less; it is written every COMMIT_INTERVAL_MS while it moves, and on close. A rejected
 * record waits REDELIVERY_DELAY_MS, then goes again; while it waits, an ordered subscription hands
 * over nothing else, an unordered one goes on (up to a window of records past the oldest
 * unacknowledged one). Records a filter (`accepts`) rejects are acknowledged without a handler call.
 */
export class LogSubscription {
  private readPosition: number;
  private readonly buffered: Entry[] = [];
  /** Handed over and not yet committed, in log order. */
  private readonly window: Entry[] = [];
  /** Rejected, by due time. */
  private readonly redeliveries: Entry[] = [];
  private readonly windowLimit: number;
  private inFlight = 0;
  private reading = false;
  private waiting: (() => void) | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private redeliveryTimer: NodeJS.Timeout | undefined;
  private commitTimer: NodeJS.Timeout | undefined;
  private committedPosition: number;
  private storedPosition: number;
  private storing: Promise<void> | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private idle: (() => void)[] = [];
  private generation = 0;

  constructor(
    private readonly log: SubscriptionSource,
    readonly target: SubscriptionTarget,
    private readonly handler: EventHandler,
    start: number,
    private readonly logger: Logger,
    private replay: Replay | undefined = undefined,
  ) {
    this.readPosition = start;
    this.committedPosition = start;
    this.storedPosition = start;
    this.windowLimit = target.ordering === "ordered" ? 1 : Math.max(1024, target.maxInFlight * 8);
  }

  /** The position every record before which was acknowledged. */
  get committed(): number {
    return this.committedPosition;
  }

  start(): void {
    this.pump();
  }

  /**
   * Continues from `position` (a replay): what was read ahead, waiting for redelivery or not yet
   * committed is dropped; handler calls in flight finish (their outcome no longer counts) and still
   * count against the in-flight bound, so an ordered subscription never has two calls at once. The
   * new position is stored, synced, before this resolves.
   */
  async restart(position: number, replay: Replay | undefined): Promise<void> {
    if (this.closed) return;
    this.generation++;
    this.replay = replay;
    this.buffered.length = 0;
    this.window.length = 0;
    this.redeliveries.length = 0;
    this.waiting?.();
    this.waiting = undefined;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.readPosition = position;
    this.committedPosition = position;
    this.log.committed(this.target, position);
    await this.store(true);
    this.pump();
  }

  /** Starts as many handler calls as the mode allows, and reads on when the read-ahead runs low. */
  private pump(): void {
    if (this.closed) {
      this.settleIdle();
      return;
    }
    const ordered = this.target.ordering === "ordered";
    const limit = ordered ? 1 : this.target.maxInFlight;
    const now = performance.now();
    while (this.inFlight < limit) {
      // Acknowledged records at the head leave the window, making room for the next ones.
      while (this.window.length > 0 && this.window[0]!.done) this.window.shift();
      const retry = this.redeliveries[0];
      let entry: Entry | undefined;
      if (retry && retry.due <= now) {
        entry = this.redeliveries.shift();
      } else if (ordered && retry) {
        break;
      } else if (this.window.length < this.windowLimit) {
        entry = this.buffered.shift();
        if (!entry) break;
        this.window.push(entry);
        const { accepts } = this.target;
        if (accepts && !entry.context.undecodable && !accepts(entry.event)) {
          entry.done = true;
          continue;
        }
      } else {
        break;
      }
      if (entry) this.run(entry);
    }
    this.advance();
    this.scheduleRedelivery();
    if (!this.reading && !this.waiting && !this.retryTimer && this.buffered.length < READ_AHEAD_LOW)
      void this.fill();
    this.settleIdle();
  }

  private run(entry: Entry): void {
    this.inFlight++;
    let outcome: Promise<void>;
    try {
      outcome = this.handler(entry.event, entry.context);
    } catch (error) {
      outcome = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    outcome.then(
      () => {
        this.inFlight--;
        entry.done = true;
        this.pump();
      },
      () => {
        // Not acknowledged: handed over again once the delay has passed (unless closing).
        this.inFlight--;
        if (entry.generation !== this.generation) {
          this.pump();
          return;
        }
        entry.due = performance.now() + REDELIVERY_DELAY_MS;
        this.redeliveries.push(entry);
        this.pump();
      },
    );
  }

  /** Moves the committed position over the acknowledged head of the window. */
  private advance(): void {
    while (this.window.length > 0 && this.window[0]!.done) this.window.shift();
    const position = this.window[0]?.position ?? this.buffered[0]?.position ?? this.readPosition;
    if (position === this.committedPosition) return;
    this.committedPosition = position;
    this.log.committed(this.target, position);
    if (!this.commitTimer && !this.closed) {
      this.commitTimer = setTimeout(() => {
        this.commitTimer = undefined;
        void this.store(false);
      }, COMMIT_INTERVAL_MS);
    }
  }

  private scheduleRedelivery(): void {
    const next = this.redeliveries[0];
    if (!next || this.redeliveryTimer || this.closed) return;
    this.redeliveryTimer = setTimeout(
      () => {
        this.redeliveryTimer = undefined;
        this.pump();
      },
      // Timers may fire a little early against the monotonic clock: pump checks `due` again.
      Math.max(1, Math.ceil(next.due - performance.now())),
    );
  }

  /**
   * Reads the records after `readPosition` into the read-ahead: from memory while they are there,
   * else one chunk from disk; at the end of the log, waits for the next append. Then pumps again.
   */
  private async fill(): Promise<void> {
    this.reading = true;
    const generation = this.generation;
    try {
      for (;;) {
        if (this.buffered.length >= READ_AHEAD_HIGH) return;
        const cached = this.log.cached(this.readPosition);
        if (!cached) break;
        this.buffered.push(this.entryOf(this.readPosition, cached.next, cached.event, EMPTY_CONTEXT));
        this.readPosition = cached.next;
      }
      if (this.readPosition >= this.log.end()) {
        this.waitForAppend();
        return;
      }
      const from = this.readPosition;
      const result = await this.log.read(from, READ_BYTES);
      // Closed, or restarted at another position while reading: these records are not wanted.
      if (this.closed || generation !== this.generation) return;
      if (result.skipped)
        this.logger.warn(
          { from: result.skipped.from, to: result.skipped.to },
          "the subscription's position was deleted by retention; it continues at the oldest record kept",
        );
      for (const record of result.records) this.buffered.push(this.decode(record));
      this.readPosition = Math.max(this.readPosition, result.next);
      if (result.records.length === 0 && result.next === from) this.waitForAppend();
    } catch (error) {
      this.logger.warn({ err: error, position: this.readPosition }, "reading the log failed; retrying");
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.pump();
      }, READ_RETRY_MS);
    } finally {
      this.reading = false;
      this.pump();
    }
  }

  private waitForAppend(): void {
    this.waiting = this.log.waitForAppend(() => {
      this.waiting = undefined;
      this.pump();
    });
  }

  private decode(record: { position: number; next: number; payload: Buffer }): Entry {
    const decoded = decodeEvent(record.payload);
    if (typeof decoded !== "string")
      return this.entryOf(record.position, record.next, decoded, EMPTY_CONTEXT);
    const { event, context } = undecodableEvent({
      id: String(record.position),
      source: this.log.source,
      body: record.payload,
      reason: decoded,
    });
    return this.entryOf(record.position, record.next, event, context);
  }

  private entryOf(position: number, next: number, event: CloudEvent, context: DeliveryContext): Entry {
    const replay = this.replay;
    if (replay && position < replay.until) event = markReplayed(event, replay.mark);
    else if (replay) this.replay = undefined;
    return { generation: this.generation, position, next, event, context, done: false, due: 0 };
  }

  /** Writes the committed position (one write at a time, the latest wins). */
  private store(durable: boolean): Promise<void> {
    const previous = this.storing ?? Promise.resolve();
    const run = previous.then(async () => {
      const position = this.committedPosition;
      if (position === this.storedPosition && !durable) return;
      try {
        const replay = this.replay && position < this.replay.until ? this.replay : undefined;
        await this.log.store(this.target, position, durable, replay);
        this.storedPosition = position;
      } catch (error) {
        // Kept in memory; the next commit or close writes it. A crash meanwhile means redelivery.
        this.logger.warn({ err: error, position }, "storing the subscription's position failed");
      }
    });
    this.storing = run;
    void run.finally(() => {
      if (this.storing === run) this.storing = undefined;
    });
    return run;
  }

  private settleIdle(): void {
    if (this.inFlight === 0) for (const resolve of this.idle.splice(0)) resolve();
  }

  /**
   * Takes no more records, waits for the handler calls in flight, and stores the committed position
   * (synced); everything not acknowledged stays in the log for the next consumer.
   */
  close(): Promise<void> {
    this.closing ??= this.stop();
    return this.closing;
  }

  private async stop(): Promise<void> {
    this.closed = true;
    this.waiting?.();
    this.waiting = undefined;
    for (const timer of [this.retryTimer, this.redeliveryTimer, this.commitTimer]) clearTimeout(timer);
    this.retryTimer = this.redeliveryTimer = this.commitTimer = undefined;
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
    this.advance();
    await this.store(true);
  }
}
