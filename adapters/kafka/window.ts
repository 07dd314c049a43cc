import type { KafkaMessage } from "kafkajs";
import type { TakenOffset } from "./offsets.js";

/**
 * The unordered in-flight bound: `size` handler calls at once. `acquire` waits for a free slot and
 * answers false once the consumer closes.
 */
export class Slots {
  private free: number;
  private readonly waiting: ((acquired: boolean) => void)[] = [];
  private closed = false;

  constructor(size: number) {
    this.free = size;
  }

  acquire(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.free > 0) {
      this.free--;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next(true);
    else this.free++;
  }

  close(): void {
    this.closed = true;
    for (const waiter of this.waiting.splice(0)) waiter(false);
  }
}

/**
 * Records a partition's lane holds before fetching from that partition pauses; it resumes at half.
 * What is left then must outlast kafkajs's wait before its next fetch (ORDERED_FETCH_WAIT_MS).
 */
export const LANE_BOUND = 500;

export interface LaneHooks {
  /** Delivers one record; rejects only when the consumer is closing (the record stays uncommitted). */
  run(partition: number, message: KafkaMessage): Promise<void>;
  /** Stops and restarts fetching from a partition whose lane is full. */
  pause(partition: number): void;
  resume(partition: number): void;
}

interface Lane {
  readonly queue: { readonly message: KafkaMessage; readonly taken: TakenOffset }[];
  running: Promise<void> | undefined;
  paused: boolean;
}

/**
 * Ordered delivery: one lane per partition, each delivering one record at a time in offset order,
 * lanes in parallel, so a partition whose subscriber is slow or failing holds only itself. A full
 * lane pauses fetching from its partition (the records not queued are fetched again on resume).
 */
export class OrderedLanes {
  private readonly lanes = new Map<number, Lane>();
  private closed = false;

  constructor(private readonly hooks: LaneHooks) {}

  /** Whether the partition's lane takes another record; pauses the partition when it does not. */
  hasRoom(partition: number): boolean {
    const lane = this.lanes.get(partition);
    if (!lane || lane.queue.length < LANE_BOUND) return true;
    // Paused again each time: a consumer that restarted after a crash forgot its paused partitions.
    lane.paused = true;
    this.hooks.pause(partition);
    return false;
  }

  push(partition: number, message: KafkaMessage, taken: TakenOffset): void {
    let lane = this.lanes.get(partition);
    if (!lane) this.lanes.set(partition, (lane = { queue: [], running: undefined, paused: false }));
    lane.queue.push({ message, taken });
    lane.running ??= this.drain(partition, lane);
  }

  /** Stops every lane after its current record. */
  close(): void {
    this.closed = true;
  }

  /** Resolves once no lane delivers any more (after `close`). */
  async settled(): Promise<void> {
    const running = [...this.lanes.values()].map((lane) => lane.running ?? Promise.resolve());
    await Promise.allSettled(running);
  }

  private async drain(partition: number, lane: Lane): Promise<void> {
    try {
      while (!this.closed && lane.queue.length > 0) {
        const { message, taken } = lane.queue[0]!;
        try {
          await this.hooks.run(partition, message);
        } catch {
          return;
        }
        taken.done = true;
        lane.queue.shift();
        if (lane.paused && lane.queue.length <= LANE_BOUND / 2 && !this.closed) {
          lane.paused = false;
          this.hooks.resume(partition);
        }
      }
    } finally {
      lane.running = undefined;
    }
  }
}
