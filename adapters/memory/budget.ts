import type { CloudEvent } from "../../src/events/event.js";

/**
 * An event held by one or more subscription queues of a channel: one copy in memory, however many
 * subscriptions hold it, counted once against the adapter's total budget until the last releases it.
 */
export interface HeldEvent {
  readonly event: CloudEvent;
  readonly bytes: number;
  /** The subscription queues holding it (queued, waiting for redelivery or being delivered). */
  holders: number;
}

/** What an event costs in memory: its data and its attributes (names and values), as bytes. */
export function eventBytes(event: CloudEvent): number {
  let bytes = event.data?.byteLength ?? 0;
  for (const name in event.attributes) bytes += name.length + String(event.attributes[name]).length;
  return bytes;
}

/** The bytes every queue of one in-memory adapter holds together, against `maxBytes`. */
export class MemoryBudget {
  private used = 0;

  constructor(readonly maxBytes: number) {}

  get usedBytes(): number {
    return this.used;
  }

  hasRoomFor(bytes: number): boolean {
    return this.used + bytes <= this.maxBytes;
  }

  /** A queue starts holding `held`. */
  take(held: HeldEvent): void {
    if (held.holders++ === 0) this.used += held.bytes;
  }

  /** A queue lets go of `held` (acknowledged, or its subscription deleted). */
  release(held: HeldEvent): void {
    if (--held.holders === 0) this.used -= held.bytes;
  }
}
