import type { Consumer } from "kafkajs";
import type { Logger } from "pino";

/** A record handed to the handler; `done` once the handler resolved for it. */
export interface TakenOffset {
  readonly offset: bigint;
  done: boolean;
}

/**
 * The records of one partition this consumer handed to the handler, in offset order, and how far
 * the group may commit: up to the lowest one not finished (every record below it was handled), or
 * past the highest one taken when all are finished. Records finish in any order (unordered
 * delivery); the commit never passes one still in flight, so at-least-once holds.
 */
export class PartitionOffsets {
  private readonly taken: TakenOffset[] = [];
  private head = 0;
  /** One past the highest offset taken. */
  private next: bigint | undefined;
  private committed: bigint | undefined;

  /**
   * Takes the record at `offset`, or answers undefined when this consumer took it before: a fetch
   * after a rebalance starts again at the group's committed offset and repeats records this
   * consumer handled or still handles.
   */
  take(offset: bigint): TakenOffset | undefined {
    if (this.next !== undefined && offset < this.next) return undefined;
    const entry: TakenOffset = { offset, done: false };
    this.taken.push(entry);
    this.next = offset + 1n;
    return entry;
  }

  /** The offset to commit when it moved since the last commit (the next record the group reads). */
  toCommit(): bigint | undefined {
    while (this.head < this.taken.length && this.taken[this.head]!.done) this.head++;
    if (this.head > 1024 && this.head * 2 > this.taken.length) {
      this.taken.splice(0, this.head);
      this.head = 0;
    }
    const offset = this.head < this.taken.length ? this.taken[this.head]!.offset : this.next;
    return offset === undefined || offset === this.committed ? undefined : offset;
  }

  committedAt(offset: bigint): void {
    if (this.committed === undefined || offset > this.committed) this.committed = offset;
  }
}

/** How often finished records are committed while the consumer runs. */
export const COMMIT_INTERVAL_MS = 200;

/**
 * Commits a subscription's progress in the background: every COMMIT_INTERVAL_MS, when the group
 * rebalances, and a last time when the consumer closes, instead of one awaited commit per batch or
 * per record. One commit request at a time; a failed one is retried by the next.
 */
export class OffsetCommits {
  private readonly partitions = new Map<number, PartitionOffsets>();
  private committing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly consumer: Consumer,
    private readonly topic: string,
    private readonly group: string,
    private readonly logger: Logger,
  ) {}

  partition(partition: number): PartitionOffsets {
    let offsets = this.partitions.get(partition);
    if (!offsets) this.partitions.set(partition, (offsets = new PartitionOffsets()));
    return offsets;
  }

  start(): void {
    this.timer = setInterval(() => void this.commit(), COMMIT_INTERVAL_MS);
    this.timer.unref();
  }

  /** Stops the timer and commits what is finished, once the commit in flight (if any) is done. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.committing;
    await this.commit();
  }

  /** Commits what finished since the last commit; joins the commit in flight instead of queueing. */
  commit(): Promise<void> {
    this.committing ??= this.send().finally(() => {
      this.committing = undefined;
    });
    return this.committing;
  }

  private async send(): Promise<void> {
    const moves: { partition: number; offset: bigint; offsets: PartitionOffsets }[] = [];
    for (const [partition, offsets] of this.partitions) {
      const offset = offsets.toCommit();
      if (offset !== undefined) moves.push({ partition, offset, offsets });
    }
    if (moves.length === 0) return;
    try {
      await this.consumer.commitOffsets(
        moves.map(({ partition, offset }) => ({ topic: this.topic, partition, offset: offset.toString() })),
      );
      for (const { offset, offsets } of moves) offsets.committedAt(offset);
    } catch (error) {
      this.logger.debug(
        { group: this.group, err: (error as Error).message },
        "Kafka offset commit failed; the next one carries it",
      );
    }
  }
}
