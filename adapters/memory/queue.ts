import { performance } from "node:perf_hooks";
import { REDELIVERY_DELAY_MS, type EventHandler, type SubscriptionTarget } from "../adapter.js";
import type { HeldEvent, MemoryBudget } from "./budget.js";

interface Redelivery {
  readonly held: HeldEvent;
  /** `performance.now()` before which the event is not handed over again. */
  readonly due: number;
}

/**
 * One subscription's events, in publish order, and the consumer currently attached to them.
 *
 * The queue belongs to the subscription, not to its consumer: detaching (closing the handle) keeps
 * every event that was not acknowledged, and the next consumer continues with them.
 *
 * A rejected event waits out REDELIVERY_DELAY_MS before it is handed over again, then goes back to
 * the front of the queue. While it waits an ordered subscription hands over nothing else, so the
 * rejected event is still the next one it sees; an unordered one goes on with the events behind it.
 *
 * Memory: the queue counts the bytes it holds (queued, waiting for redelivery and in flight) against
 * its own `maxBytes` and the adapter's budget, and lets go of an event as soon as it is acknowledged
 * (its slot is cleared at once, so nothing delivered stays referenced).
 */
export class SubscriptionQueue {
  private readonly events: (HeldEvent | undefined)[] = [];
  private head = 0;
  /** Rejected events, oldest rejection first; all wait the same delay, so this is in `due` order. */
  private readonly redeliveries: Redelivery[] = [];
  private timer: NodeJS.Timeout | undefined;
  private handler: EventHandler | undefined;
  private ordered = true;
  private maxInFlight = 1;
  private inFlight = 0;
  private held = 0;
  private isDiscarded = false;
  private idle: (() => void)[] = [];
  accepts: SubscriptionTarget["accepts"];

  constructor(
    readonly capacity: number,
    readonly maxBytes: number,
    private readonly budget: MemoryBudget,
  ) {}

  /** Events held for the subscription: queued, or waiting to be redelivered (not those in flight). */
  get size(): number {
    return this.events.length - this.head + this.redeliveries.length;
  }

  /** Bytes of the events held: queued, waiting to be redelivered, and in flight. */
  get bytes(): number {
    return this.held;
  }

  push(held: HeldEvent): void {
    this.budget.take(held);
    this.held += held.bytes;
    this.events.push(held);
    this.pump();
  }

  /** Attaches a consumer, replacing any previous one, and starts handing events over. */
  attach(handler: EventHandler, subscription: SubscriptionTarget): void {
    this.handler = handler;
    this.ordered = subscription.ordering === "ordered";
    this.maxInFlight = subscription.maxInFlight;
    this.accepts = subscription.accepts;
    this.pump();
  }

  isAttached(handler: EventHandler): boolean {
    return this.handler === handler;
  }

  /** Detaches the consumer and waits for its calls in flight; unacknowledged events stay queued. */
  async detach(): Promise<void> {
    this.handler = undefined;
    if (this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  /**
   * Detaches for good: the subscription is gone, and so are its events (those in flight go once
   * their handler call settles). Resolves with the number of events dropped.
   */
  async discard(): Promise<number> {
    const dropped = this.size;
    this.isDiscarded = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const { held } of this.redeliveries.splice(0)) this.release(held);
    for (let index = this.head; index < this.events.length; index++) this.release(this.events[index]!);
    this.events.length = 0;
    this.head = 0;
    await this.detach();
    return dropped;
  }

  private release(held: HeldEvent): void {
    this.held -= held.bytes;
    this.budget.release(held);
  }

  /** Starts as many handler calls as the ordering mode allows. */
  private pump(): void {
    const handler = this.handler;
    // Ordered: a rejected event waiting for its redelivery is still the next one to hand over.
    if (handler && !(this.ordered && this.redeliveries.length > 0)) {
      const limit = this.ordered ? 1 : this.maxInFlight;
      while (this.inFlight < limit && this.head < this.events.length) {
        const held = this.events[this.head]!;
        // Cleared at once: the queue references an event only while it holds it.
        this.events[this.head] = undefined;
        this.head++;
        if (this.head > 1024 && this.head * 2 > this.events.length) {
          this.events.splice(0, this.head);
          this.head = 0;
        }
        this.run(handler, held);
      }
    }
    if (this.inFlight === 0) for (const resolve of this.idle.splice(0)) resolve();
  }

  private run(handler: EventHandler, held: HeldEvent): void {
    this.inFlight++;
    handler(held.event, {}).then(
      () => {
        this.inFlight--;
        this.release(held);
        this.pump();
      },
      () => {
        this.inFlight--;
        if (this.isDiscarded) this.release(held);
        else {
          // Not acknowledged: kept, and handed over again once the delay has passed.
          this.redeliveries.push({ held, due: performance.now() + REDELIVERY_DELAY_MS });
          this.schedule();
        }
        this.pump();
      },
    );
  }

  /** Arms the timer for the oldest rejection, unless it is armed already. */
  private schedule(): void {
    const next = this.redeliveries[0];
    if (!next || this.timer) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.requeueDue();
      },
      Math.max(1, Math.ceil(next.due - performance.now())),
    );
    // A pending redelivery alone does not keep the process alive (the events live in memory only).
    this.timer.unref();
  }

  /** Puts the events whose delay has passed back at the front, oldest rejection first. */
  private requeueDue(): void {
    // Timers may fire a little early against the monotonic clock: `due` is checked again here.
    const now = performance.now();
    let due = 0;
    while (due < this.redeliveries.length && this.redeliveries[due]!.due <= now) due++;
    const ready = this.redeliveries.splice(0, due);
    for (let index = ready.length - 1; index >= 0; index--) {
      const { held } = ready[index]!;
      if (this.head > 0) this.events[--this.head] = held;
      else this.events.unshift(held);
    }
    this.schedule();
    this.pump();
  }
}
