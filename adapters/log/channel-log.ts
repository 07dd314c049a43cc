import { join } from "node:path";
import type { Logger } from "pino";
import type { CloudEvent } from "../../src/events/event.js";
import { HeraldError } from "../../src/errors.js";
import { replayMark, type EventHandler, type ReplayPosition, type SubscriptionTarget } from "../adapter.js";
import { LogSubscription, type Replay, type SubscriptionSource } from "./consumer.js";
import { OffsetStore } from "./offsets.js";
import { acceptedAtOf, encodeEvent, frame } from "./record.js";
import { SegmentLog, segmentName, type Capacity, type ReadResult } from "./segments.js";
import type { LogSettings } from "./spec.js";

/** What the adapter learns from a channel's writes: the disk failing and coming back. */
export interface DiskEvents {
  failed(dir: string, error: NodeJS.ErrnoException): void;
  recovered(): void;
}

interface Cached {
  readonly event: CloudEvent;
  readonly next: number;
  readonly bytes: number;
}

/** The latest appended records kept in memory, so that readers at the tail do not read the disk. */
const CACHE_MAX_RECORDS = 8192;
const CACHE_MAX_BYTES = 32 * 2 ** 20;
/** How much a seek reads at a time while looking for its first record. */
const SCAN_BYTES = 256 * 1024;
/** How often a follower (a log written by another instance) looks for appends while a reader waits. */
const FOLLOW_INTERVAL_MS = 250;
/** Bounds of the interval at which retention runs (a quarter of retentionDuration in between). */
const RETENTION_MIN_INTERVAL_MS = 100;
const RETENTION_MAX_INTERVAL_MS = 60_000;
/** A publish to a full log looks for consumed segments again after a commit, or after this long. */
const MAKE_ROOM_INTERVAL_MS = 100;

const keyOf = (subscription: { namespace: string; name: string }) =>
  `${subscription.namespace}/${subscription.name}`;

/**
 * One channel: its segment log, the committed position of each subscription (`offsets`), the
 * subscriptions running here, and retention.
 *
 * Retention: a segment every subscription has consumed (its end at or before every committed
 * position, stored or running here) is deleted at the next roll or retention pass, and at once when
 * a publish needs its room. A segment last written before `retentionDuration` ago is deleted even
 * when a subscription has not consumed it; the events each subscription loses that way are counted
 * and logged. The size limit (`retentionBytes`) is never met by deleting unconsumed events: the log
 * refuses the publish instead (ChannelFull). Retention runs in the instance that writes the log.
 */
export class ChannelLog implements SubscriptionSource {
  readonly offsets: OffsetStore;
  private readonly running = new Map<string, LogSubscription>();
  /** Committed positions of the subscriptions running here, as they move. */
  private readonly commits = new Map<string, number>();
  private waiters = new Set<() => void>();
  private followTimer: NodeJS.Timeout | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;
  private writerReady: Promise<void> | undefined;
  private readonly cache = new Map<number, Cached>();
  private cacheBytes = 0;
  private segmentCount = 0;
  private compactionQueued = false;
  /** Bumped by every commit of a subscription running here. */
  private commitVersion = 0;
  private lastRoomCheck: { at: number; commitVersion: number } | undefined;
  private closed = false;
  /** Closed, positions stored: a late `store` (a handle closed after its channel) writes nothing. */
  private stored = false;

  private constructor(
    readonly dir: string,
    readonly source: string,
    private settings: LogSettings,
    private readonly logger: Logger,
    private readonly disk: DiskEvents,
    readonly log: SegmentLog<readonly CloudEvent[] | undefined>,
  ) {
    this.offsets = new OffsetStore(join(dir, "subscriptions"));
  }

  static async open(options: {
    dir: string;
    source: string;
    settings: LogSettings;
    logger: Logger;
    disk: DiskEvents;
  }): Promise<ChannelLog> {
    const holder: { channel?: ChannelLog } = {};
    const log = await SegmentLog.open<readonly CloudEvent[] | undefined>(
      join(options.dir, "segments"),
      () => holder.channel!.capacity(),
      {
        committed: (appends) => holder.channel?.appended(appends),
        failed: (error) => options.disk.failed(options.dir, error),
        recovered: () => options.disk.recovered(),
      },
      options.logger,
    );
    holder.channel = new ChannelLog(
      options.dir,
      options.source,
      options.settings,
      options.logger,
      options.disk,
      log,
    );
    return holder.channel;
  }

  /** Applies a changed spec: limits take effect at the next write, the retention interval at once. */
  configure(settings: LogSettings): void {
    const interval = settings.retentionMs !== this.settings.retentionMs;
    this.settings = settings;
    if (interval && this.retentionTimer) this.startRetention();
  }

  /** Makes this instance the log's writer (recovering its tail), once. */
  becomeWriter(): Promise<void> {
    this.writerReady ??= this.log.recover().then(
      async () => {
        await this.offsets.removeLeftovers();
        this.startRetention();
      },
      (error: unknown) => {
        this.writerReady = undefined;
        throw error;
      },
    );
    return this.writerReady;
  }

  /** Appends the events durably; resolves once they are synced (see SegmentLog.append). */
  async publish(events: readonly CloudEvent[], signal: AbortSignal): Promise<void> {
    await this.becomeWriter();
    const acceptedAt = Date.now();
    await this.log.append(
      events.map((event) => encodeEvent(event, acceptedAt)),
      events,
      signal,
    );
  }

  /** Appends records with arbitrary payloads (not events), as another writer of the format could. */
  async appendPayloads(payloads: readonly Uint8Array[]): Promise<void> {
    await this.becomeWriter();
    await this.log.append(payloads.map(frame), undefined);
  }

  private capacity(): Capacity {
    return {
      limitBytes: this.settings.retentionBytes,
      segmentBytes: this.settings.segmentBytes,
      makeRoom: (needed) => this.makeRoom(needed),
    };
  }

  private appended(
    appends: readonly {
      position: number;
      records: readonly Buffer[];
      tag: readonly CloudEvent[] | undefined;
    }[],
  ): void {
    for (const { position, records, tag } of appends) {
      if (!tag) continue;
      let at = position;
      records.forEach((record, index) => {
        const next = at + record.length;
        this.cache.set(at, { event: tag[index]!, next, bytes: record.length });
        this.cacheBytes += record.length;
        at = next;
      });
    }
    for (const [position, cached] of this.cache) {
      if (this.cache.size <= CACHE_MAX_RECORDS && this.cacheBytes <= CACHE_MAX_BYTES) break;
      this.cache.delete(position);
      this.cacheBytes -= cached.bytes;
    }
    this.wake();
    const segments = this.log.segmentInfos().length;
    if (segments !== this.segmentCount) {
      this.segmentCount = segments;
      // A roll: the segment before may be consumed already.
      if (segments > 1) this.queueCompaction();
    }
  }

  // SubscriptionSource

  end(): number {
    return this.log.end();
  }

  cached(position: number): { event: CloudEvent; next: number } | undefined {
    // A record retention deleted is gone for readers too, even while memory still holds it.
    if (position < this.log.start()) return undefined;
    return this.cache.get(position);
  }

  read(position: number, maxBytes: number): Promise<ReadResult> {
    return this.log.read(position, maxBytes);
  }

  waitForAppend(wake: () => void): () => void {
    this.waiters.add(wake);
    if (!this.log.isWriter && !this.followTimer) {
      this.followTimer = setInterval(() => void this.follow(), FOLLOW_INTERVAL_MS);
      this.followTimer.unref();
    }
    return () => this.waiters.delete(wake);
  }

  committed(subscription: SubscriptionTarget, position: number): void {
    const key = keyOf(subscription);
    if (!this.running.has(key)) return;
    this.commits.set(key, position);
    this.commitVersion++;
  }

  store(
    subscription: SubscriptionTarget,
    position: number,
    durable: boolean,
    replay: Replay | undefined,
  ): Promise<void> {
    if (this.stored) return Promise.resolve();
    return this.offsets.write(subscription.namespace, subscription.name, position, durable, replay);
  }

  private wake(): void {
    if (this.waiters.size === 0) return;
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const wake of waiters) wake();
  }

  /** A log another instance writes: looks for appends while readers wait. */
  private async follow(): Promise<void> {
    if (this.waiters.size === 0 || this.log.isWriter || this.closed) {
      clearInterval(this.followTimer);
      this.followTimer = undefined;
      if (this.log.isWriter) this.wake();
      return;
    }
    const before = this.log.end();
    try {
      await this.log.refresh();
    } catch (error) {
      this.logger.warn({ err: error }, "reading the log's folder failed");
      return;
    }
    if (this.log.end() !== before) this.wake();
  }

  // Subscriptions

  /**
   * Starts consuming for a subscription from its committed position; a subscription without one
   * starts at the end of the log, and that position is stored (synced) before this resolves.
   */
  async subscribe(
    target: SubscriptionTarget,
    handler: EventHandler,
    logger: Logger,
  ): Promise<LogSubscription> {
    const key = keyOf(target);
    await this.running.get(key)?.close();
    this.running.delete(key);
    if (!this.log.isWriter) await this.log.refresh();
    const stored = await this.offsets.read(target.namespace, target.name);
    const end = this.log.end();
    let start: number;
    if (stored === "missing") {
      start = end;
      await this.offsets.write(target.namespace, target.name, start, true);
    } else if (typeof stored !== "number") {
      start = this.log.start();
      logger.warn(
        { reason: stored.corrupt, from: start },
        "the subscription's stored position is unreadable; it starts again at the oldest record kept",
      );
    } else if (stored > end) {
      start = end;
      logger.warn(
        { stored, end },
        "the subscription's position is past the end of the log (its tail was lost); it continues at the end",
      );
    } else {
      start = stored;
    }
    const replay = await this.offsets.readReplay(target.namespace, target.name);
    const subscription = new LogSubscription(this, target, handler, start, logger, replay);
    this.running.set(key, subscription);
    this.commits.set(key, start);
    subscription.start();
    return subscription;
  }

  /** Stops a running subscription (its position stays stored). */
  async unsubscribe(subscription: LogSubscription): Promise<void> {
    const key = keyOf(subscription.target);
    if (this.running.get(key) === subscription) {
      this.running.delete(key);
      this.commits.delete(key);
    }
    await subscription.close();
  }

  /**
   * Moves a subscription to `position` (see ChannelAdapter.seek): the running one here continues
   * there, otherwise the stored position moves. Records before the current end are marked replayed.
   */
  async seek(target: SubscriptionTarget, position: ReplayPosition): Promise<{ position: number }> {
    if (!this.log.isWriter) await this.log.refresh();
    const start = await this.positionOf(position);
    const replay: Replay = { until: this.log.end(), mark: replayMark(position) };
    const running = this.running.get(keyOf(target));
    if (running) await running.restart(start, replay);
    else await this.offsets.write(target.namespace, target.name, start, true, replay);
    return { position: start };
  }

  /** The log position a replay from `position` starts at. */
  private async positionOf(position: ReplayPosition): Promise<number> {
    switch (position.from) {
      case "beginning":
        return this.log.start();
      case "offset":
        return this.recordAtOrAfter(position.offset);
      case "time":
        return this.firstAcceptedFrom(position.time.getTime());
    }
  }

  /** The first record at or after byte position `offset` (the oldest kept when before it). */
  private async recordAtOrAfter(offset: number): Promise<number> {
    const end = this.log.end();
    if (offset > end)
      throw new HeraldError("BadRequest", `from: offset ${offset} is past the end of the log (${end})`, {
        field: "from",
      });
    const segment = this.log
      .segmentInfos()
      .filter((info) => info.base <= offset)
      .at(-1);
    let at = Math.max(segment?.base ?? this.log.start(), this.log.start());
    while (at < offset) {
      const { records, next } = await this.log.read(at, SCAN_BYTES);
      const found = records.find((record) => record.position >= offset);
      if (found) return found.position;
      if (next <= at) break;
      at = next;
    }
    return Math.min(at, end);
  }

  /**
   * The first record accepted at or after `time`: segments last written before it are skipped whole,
   * then records are scanned by their acceptance time (a record without one, written before that
   * time was recorded, counts as accepted after: a replay repeats rather than misses).
   */
  private async firstAcceptedFrom(time: number): Promise<number> {
    const end = this.log.end();
    let at = this.log.start();
    for (const segment of this.log.segmentInfos()) {
      if (segment.end <= at) continue;
      const file = join(this.log.dir, segmentName(segment.base));
      const modified = await this.log.modifiedAt(file).catch(() => Infinity);
      if (modified < time) {
        at = segment.end;
        continue;
      }
      at = Math.max(at, segment.base);
      break;
    }
    while (at < end) {
      const { records, next } = await this.log.read(at, SCAN_BYTES);
      for (const record of records) {
        const acceptedAt = acceptedAtOf(record.payload);
        if (acceptedAt === undefined || acceptedAt >= time) return record.position;
      }
      if (next <= at) break;
      at = next;
    }
    return end;
  }

  async deleteSubscription(target: { namespace: string; name: string }): Promise<void> {
    const key = keyOf(target);
    const running = this.running.get(key);
    this.running.delete(key);
    this.commits.delete(key);
    await running?.close();
    await this.offsets.remove(target.namespace, target.name);
  }

  // Retention

  private startRetention(): void {
    clearInterval(this.retentionTimer);
    if (this.closed) return;
    const interval = Math.min(
      RETENTION_MAX_INTERVAL_MS,
      Math.max(RETENTION_MIN_INTERVAL_MS, Math.floor(this.settings.retentionMs / 4)),
    );
    this.retentionTimer = setInterval(() => void this.retain(), interval);
    this.retentionTimer.unref();
  }

  private queueCompaction(): void {
    if (this.compactionQueued) return;
    this.compactionQueued = true;
    void this.log
      .exclusive(async () => {
        this.compactionQueued = false;
        await this.deleteConsumed();
      })
      .catch((error: unknown) => this.logger.warn({ err: error }, "deleting consumed segments failed"));
  }

  /** Committed positions of every subscription: running here (in memory), else stored. */
  private async positions(): Promise<Map<string, number>> {
    const positions = new Map<string, number>();
    for (const offset of await this.offsets.list()) positions.set(keyOf(offset), offset.position);
    for (const [key, position] of this.commits) positions.set(key, position);
    return positions;
  }

  /** The position every subscription has consumed up to (the end of the log when there is none). */
  private async floor(): Promise<number> {
    let floor = this.log.end();
    for (const position of (await this.positions()).values()) floor = Math.min(floor, position);
    return floor;
  }

  /** Deletes the consumed segments; inside `exclusive`. */
  private async deleteConsumed(): Promise<void> {
    const floor = await this.floor();
    await this.log.deleteOldest(async (segment) => segment.end <= floor);
  }

  /** Inside `exclusive`, before a write that would pass retentionBytes. */
  private async makeRoom(needed: number): Promise<void> {
    // A log kept full by a subscription that does not move is not searched again on every publish.
    const last = this.lastRoomCheck;
    if (last && last.commitVersion === this.commitVersion && Date.now() - last.at < MAKE_ROOM_INTERVAL_MS)
      return;
    this.lastRoomCheck = { at: Date.now(), commitVersion: this.commitVersion };
    await this.deleteConsumed();
    if (this.log.bytes() + needed <= this.settings.retentionBytes) return;
    // The active segment may be all consumed too: start a new one so that it can go.
    const floor = await this.floor();
    if (floor >= this.log.end() && this.log.bytes() > 0) {
      await this.log.roll();
      await this.log.deleteOldest(async (segment) => segment.end <= floor);
    }
  }

  /** A retention pass: consumed segments, then segments older than retentionDuration. */
  async retain(): Promise<void> {
    if (this.closed || !this.log.isWriter) return;
    await this.log
      .exclusive(async () => {
        const cutoff = Date.now() - this.settings.retentionMs;
        const active = this.log.segmentInfos().at(-1);
        if (active && active.end > active.base) {
          const file = join(this.log.dir, segmentName(active.base));
          if ((await this.log.modifiedAt(file)) < cutoff) await this.log.roll();
        }
        const positions = await this.positions();
        let floor = this.log.end();
        for (const position of positions.values()) floor = Math.min(floor, position);
        const lost = new Map<string, number>();
        await this.log.deleteOldest(async (segment, file) => {
          if (segment.end <= floor) return true;
          if ((await this.log.modifiedAt(file)) >= cutoff) return false;
          for (const [key, position] of positions) {
            if (position >= segment.end) continue;
            const count = await this.log.count(Math.max(position, segment.base), segment.end);
            lost.set(key, (lost.get(key) ?? 0) + count);
          }
          return true;
        });
        for (const [subscription, events] of lost)
          if (events > 0)
            this.logger.warn(
              { subscription, events, retentionMs: this.settings.retentionMs },
              "retention deleted events older than retentionDuration that the subscription had not taken",
            );
      })
      .catch((error: unknown) => this.logger.warn({ err: error }, "a retention pass failed"));
  }

  /** Stops the subscriptions running here and closes the log (a write in progress finishes). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.retentionTimer);
    clearInterval(this.followTimer);
    const running = [...this.running.values()];
    this.running.clear();
    this.commits.clear();
    // Their positions are stored as they close; after that, nothing is written (the folder may go).
    await Promise.all(running.map((subscription) => subscription.close()));
    this.stored = true;
    await this.log.close();
    this.cache.clear();
  }
}
