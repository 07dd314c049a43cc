import { mkdir, open, readdir, stat, unlink, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { backendUnavailable, HeraldError } from "../../src/errors.js";
import { CHUNK_BYTES, scanRecords, syncFolder, writeAll, type Scan } from "./files.js";

/**
 * One channel's append-only log: segment files named by the position of their first byte
 * (`00000000000000000000.log`, then the next at the previous one's base plus its size), so a position
 * is one number that only grows, across segments and restarts.
 *
 * Writing (`append`) is group-committed: publishes that arrive while a batch is being written and
 * synced wait together, and the next batch writes all of them with one `writev` and one `fdatasync`.
 * An append resolves only after its records are on disk. A failed write or sync (disk full) cuts the
 * segment back to its last synced end, so no partial record ever sits before later ones, and every
 * publish of the batch is refused. A new segment is created (and its folder synced) only once the
 * previous one is complete, so only the tail of the last segment can be torn by a crash.
 *
 * Opening reads the folder. The writer (`recover`, before the first append) checks every record of
 * the last segment and truncates a torn or corrupt tail, logging what it dropped. Readers see records
 * up to the synced end (the writer's) or up to the last whole, checked record (a log written by
 * another adapter instance, refreshed with `refresh`); every record read from disk has its checksum
 * checked, and a corrupt one is never returned: the rest of that segment is skipped and logged.
 *
 * Changes to the segment list (append, roll, delete) run one at a time through `exclusive`.
 */
export interface LogRecord {
  /** The record's position: its first byte in the log. */
  readonly position: number;
  /** The position right after it. */
  readonly next: number;
  readonly payload: Buffer;
}

export interface ReadResult {
  readonly records: LogRecord[];
  /** Where the next read continues. */
  readonly next: number;
  /** Set when `position` was before the oldest segment: the log was deleted up to `to`. */
  readonly skipped?: { readonly from: number; readonly to: number } | undefined;
}

/** A segment as retention sees it. */
export interface SegmentInfo {
  readonly base: number;
  readonly end: number;
  readonly active: boolean;
}

/** What the log asks its owner before writing a batch. */
export interface Capacity {
  /** The most bytes the log may hold. */
  readonly limitBytes: number;
  /** The size at which a new segment is started. */
  readonly segmentBytes: number;
  /** Frees what may be freed so that `needed` more bytes fit; runs inside `exclusive`. */
  makeRoom(needed: number): Promise<void>;
}

/** What the log tells its owner about writes. */
export interface AppendListener<Tag> {
  /** Records durably appended: each append's first position, its records and its tag, in log order. */
  committed(appends: readonly { position: number; records: readonly Buffer[]; tag: Tag }[]): void;
  /** A write or sync failed (nothing of the batch was kept); `error` is the file system's. */
  failed(error: NodeJS.ErrnoException): void;
  /** A batch was written after a failure. */
  recovered(): void;
}

interface Segment {
  readonly base: number;
  readonly file: string;
  /** Bytes of whole records: synced ones (writer), checked ones (last segment of a follower), or the file's. */
  size: number;
  reader?: Promise<FileHandle> | undefined;
}

interface Pending<Tag> {
  readonly records: readonly Buffer[];
  readonly bytes: number;
  readonly tag: Tag;
  readonly signal: AbortSignal | undefined;
  resolve(position: number): void;
  reject(error: unknown): void;
}

const SUFFIX = ".log";
const SEGMENT_NAME = /^(\d{20})\.log$/;

export function segmentName(base: number): string {
  return `${String(base).padStart(20, "0")}${SUFFIX}`;
}

/** A write-side error as publish answers it: 503, saying what the disk said. */
export function diskError(dir: string, error: unknown): HeraldError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOSPC" || code === "EDQUOT")
    return backendUnavailable(
      "LogChannel",
      `the disk holding ${dir} is full (${code}); publishes are refused until space is freed`,
    );
  return backendUnavailable("LogChannel", error);
}

export class SegmentLog<Tag> {
  private segments: Segment[] = [];
  /** The active segment's write handle: set once this instance is the log's writer. */
  private writer: FileHandle | undefined;
  private pending: Pending<Tag>[] = [];
  private flushScheduled = false;
  private chain: Promise<void> = Promise.resolve();
  private failing = false;
  private closed = false;
  /** Corruptions already logged, by position, so readers sharing the log report each once. */
  private readonly reported = new Set<number>();
  /** Syncs of appended data, and records appended: for benchmarks. */
  readonly stats = { syncs: 0, records: 0 };

  private constructor(
    readonly dir: string,
    private readonly capacity: () => Capacity,
    private readonly listener: AppendListener<Tag>,
    private readonly logger: Logger,
  ) {}

  /** Opens the log in `dir` (created when missing) for reading; `recover` makes this instance its writer. */
  static async open<Tag>(
    dir: string,
    capacity: () => Capacity,
    listener: AppendListener<Tag>,
    logger: Logger,
  ): Promise<SegmentLog<Tag>> {
    await mkdir(dir, { recursive: true });
    const log = new SegmentLog(dir, capacity, listener, logger);
    await log.refresh();
    return log;
  }

  /** Runs `work` after every change to the segment list queued before it. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.chain.then(work);
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  get isWriter(): boolean {
    return this.writer !== undefined;
  }

  /** The position after the last readable record. */
  end(): number {
    const last = this.segments.at(-1);
    return last ? last.base + last.size : 0;
  }

  /** The position of the oldest record kept. */
  start(): number {
    return this.segments[0]?.base ?? 0;
  }

  /** Bytes on disk. */
  bytes(): number {
    let total = 0;
    for (const segment of this.segments) total += segment.size;
    return total;
  }

  segmentInfos(): SegmentInfo[] {
    return this.segments.map((segment, index) => ({
      base: segment.base,
      end: segment.base + segment.size,
      active: index === this.segments.length - 1,
    }));
  }

  /**
   * Appends `records` (framed) as one unit, in the next group commit; resolves with the position of
   * the first once they are synced to disk. Rejects with ChannelFull when the log is at its size
   * limit, PayloadTooLarge when the records alone exceed it, BackendUnavailable when the disk refused
   * them or `signal` aborted before they were written (then nothing of them is written).
   */
  append(records: readonly Buffer[], tag: Tag, signal?: AbortSignal): Promise<number> {
    if (this.closed) return Promise.reject(new HeraldError("ChannelNotFound", "the channel's log is closed"));
    let bytes = 0;
    for (const record of records) bytes += record.length;
    return new Promise<number>((resolve, reject) => {
      this.pending.push({ records, bytes, tag, signal, resolve, reject });
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      void this.exclusive(() => this.flush());
    });
  }

  /** Writes batches until no publish waits. Never rejects: every failure goes to the publishes. */
  private async flush(): Promise<void> {
    for (;;) {
      const batch = this.pending;
      if (batch.length === 0) {
        this.flushScheduled = false;
        return;
      }
      this.pending = [];
      await this.write(batch);
    }
  }

  private async write(batch: readonly Pending<Tag>[]): Promise<void> {
    const live = batch.filter((pending) => {
      if (!pending.signal?.aborted) return true;
      pending.reject(
        backendUnavailable("LogChannel", "the publish deadline passed before the events were written"),
      );
      return false;
    });
    if (live.length === 0) return;
    try {
      if (this.closed) throw new HeraldError("ChannelNotFound", "the channel's log is closed");
      await this.recoverNow();
    } catch (error) {
      for (const pending of live)
        pending.reject(error instanceof HeraldError ? error : diskError(this.dir, error));
      return;
    }
    const accepted = await this.admit(live);
    if (accepted.length === 0) return;
    let bytes = 0;
    for (const pending of accepted) bytes += pending.bytes;
    const capacity = this.capacity();
    try {
      const active = this.segments.at(-1)!;
      if (active.size > 0 && active.size + bytes > capacity.segmentBytes) await this.roll();
    } catch (error) {
      this.fail(accepted, error);
      return;
    }
    const active = this.segments.at(-1)!;
    const writer = this.writer!;
    const start = active.size;
    try {
      await writeAll(
        writer,
        accepted.flatMap((pending) => pending.records),
        start,
      );
      await writer.datasync();
    } catch (error) {
      // Part of the batch may be in the file: cut it off, so that no torn record sits before later ones.
      try {
        await writer.truncate(start);
      } catch (truncateError) {
        this.logger.error(
          { segment: active.file, err: truncateError },
          "cannot cut a failed write off the log; the tail is checked again before the next write",
        );
        await this.dropWriter();
      }
      this.fail(accepted, error);
      return;
    }
    this.stats.syncs++;
    active.size = start + bytes;
    if (this.failing) {
      this.failing = false;
      this.listener.recovered();
    }
    let position = active.base + start;
    const appends = accepted.map((pending) => {
      const entry = { position, records: pending.records, tag: pending.tag };
      position += pending.bytes;
      this.stats.records += pending.records.length;
      return entry;
    });
    this.listener.committed(appends);
    appends.forEach((append, index) => accepted[index]!.resolve(append.position));
  }

  /** The publishes that fit under the size limit, in order; the others are refused. */
  private async admit(live: readonly Pending<Tag>[]): Promise<Pending<Tag>[]> {
    let needed = 0;
    for (const pending of live) needed += pending.bytes;
    const capacity = this.capacity();
    if (this.bytes() + needed > capacity.limitBytes) {
      try {
        await capacity.makeRoom(needed);
      } catch (error) {
        this.logger.warn({ dir: this.dir, err: error }, "freeing consumed segments failed");
      }
    }
    let free = capacity.limitBytes - this.bytes();
    const accepted: Pending<Tag>[] = [];
    for (const pending of live) {
      if (pending.bytes > capacity.limitBytes) {
        pending.reject(
          new HeraldError(
            "PayloadTooLarge",
            `the events take ${pending.bytes} bytes, more than the channel's retentionBytes (${capacity.limitBytes})`,
          ),
        );
      } else if (pending.bytes > free) {
        pending.reject(
          new HeraldError(
            "ChannelFull",
            `the channel's log holds its retentionBytes (${capacity.limitBytes} bytes) of events not yet taken by every subscription`,
          ),
        );
      } else {
        free -= pending.bytes;
        accepted.push(pending);
      }
    }
    return accepted;
  }

  private fail(batch: readonly Pending<Tag>[], error: unknown): void {
    const refusal = diskError(this.dir, error);
    this.logger.error({ dir: this.dir, err: error }, "writing to the log failed; the publishes are refused");
    this.failing = true;
    this.listener.failed(error as NodeJS.ErrnoException);
    for (const pending of batch) pending.reject(refusal);
  }

  /**
   * Makes this instance the log's writer (once): checks the last segment's records and truncates a
   * torn or corrupt tail, logging what it dropped, then opens it for appending.
   */
  recover(): Promise<void> {
    return this.exclusive(() => this.recoverNow());
  }

  private async recoverNow(): Promise<void> {
    if (this.writer) return;
    await this.refresh();
    let last = this.segments.at(-1);
    if (!last) {
      last = { base: 0, file: join(this.dir, segmentName(0)), size: 0 };
      await this.createSegment(last);
      this.segments.push(last);
    }
    const handle = await open(last.file, "r+");
    try {
      const { size } = await handle.stat();
      const scan = await scanRecords(handle, 0, size);
      if (scan.end < size) {
        this.logger.warn(
          {
            segment: last.file,
            keptBytes: scan.end,
            droppedBytes: size - scan.end,
            reason: scan.problem,
          },
          "truncating the torn tail of the log: these bytes were never acknowledged",
        );
        await handle.truncate(scan.end);
        await handle.datasync();
      }
      last.size = scan.end;
    } catch (error) {
      await handle.close();
      throw error;
    }
    this.writer = handle;
  }

  private async dropWriter(): Promise<void> {
    const writer = this.writer;
    this.writer = undefined;
    await writer?.close().catch(() => undefined);
  }

  /** Starts a new segment after the active one (complete and synced). Runs inside `exclusive`. */
  async roll(): Promise<void> {
    const active = this.segments.at(-1);
    if (!active || !this.writer || active.size === 0) return;
    const next: Segment = {
      base: active.base + active.size,
      file: join(this.dir, segmentName(active.base + active.size)),
      size: 0,
    };
    await this.createSegment(next);
    const handle = await open(next.file, "r+");
    await this.writer.close();
    this.writer = handle;
    this.segments.push(next);
  }

  private async createSegment(segment: Segment): Promise<void> {
    const created = await open(segment.file, "a");
    await created.close();
    await syncFolder(this.dir);
  }

  /**
   * Deletes the segments, oldest first, for which `deletable` says yes, stopping at the first it
   * says no to; never the active one. Runs inside `exclusive`. Resolves with the deleted ones.
   */
  async deleteOldest(
    deletable: (segment: SegmentInfo, file: string) => Promise<boolean>,
  ): Promise<SegmentInfo[]> {
    const deleted: SegmentInfo[] = [];
    while (this.segments.length > 1) {
      const oldest = this.segments[0]!;
      const info = { base: oldest.base, end: oldest.base + oldest.size, active: false };
      if (!(await deletable(info, oldest.file))) break;
      this.segments.shift();
      await this.closeReader(oldest);
      await unlink(oldest.file).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== "ENOENT") throw error;
      });
      deleted.push(info);
    }
    return deleted;
  }

  /** When a segment file was last written to (ms since the epoch). */
  async modifiedAt(file: string): Promise<number> {
    return (await stat(file)).mtimeMs;
  }

  /**
   * Reads whole records from `position` on, about `maxBytes` of them (at least one when there is
   * one). A position before the oldest segment continues at its start (`skipped`); a position at the
   * end returns no records.
   */
  async read(position: number, maxBytes: number): Promise<ReadResult> {
    let skipped: ReadResult["skipped"];
    let at = position;
    for (let attempt = 0; ; attempt++) {
      const first = this.segments[0];
      if (!first) return { records: [], next: at, skipped };
      if (at < first.base) {
        skipped = { from: skipped?.from ?? at, to: first.base };
        at = first.base;
      }
      const index = this.indexOf(at);
      const segment = this.segments[index]!;
      const offset = at - segment.base;
      if (offset >= segment.size) {
        const next = this.segments[index + 1];
        if (!next) return { records: [], next: at, skipped };
        at = next.base;
        continue;
      }
      let scan: Scan;
      try {
        scan = await scanRecords(await this.readerOf(segment), offset, segment.size, maxBytes);
      } catch (error) {
        // Deleted meanwhile (retention, or the writer of a followed log): continue at the new start.
        if (!this.segments.includes(segment) && attempt < 3) continue;
        if ((error as NodeJS.ErrnoException).code === "ENOENT" && attempt < 3) {
          await this.refresh();
          continue;
        }
        throw error;
      }
      const records = scan.records.map((record) => ({
        position: segment.base + record.offset,
        next: segment.base + record.next,
        payload: record.payload,
      }));
      if (scan.end < scan.limit) {
        // The bytes up to `segment.size` are whole records by construction: anything else is damage.
        const from = segment.base + scan.end;
        if (!this.reported.has(from)) {
          this.reported.add(from);
          this.logger.error(
            {
              segment: segment.file,
              position: from,
              skippedBytes: segment.size - scan.end,
              reason: scan.problem,
            },
            "a record of the log is corrupt: it and the rest of its segment are skipped, never delivered",
          );
        }
        return { records, next: segment.base + segment.size, skipped };
      }
      return { records, next: segment.base + scan.end, skipped };
    }
  }

  /** Counts the whole records between `from` and `to` (within one segment's bounds or across). */
  async count(from: number, to: number): Promise<number> {
    let total = 0;
    let at = from;
    while (at < to) {
      const { records, next } = await this.read(at, CHUNK_BYTES);
      for (const record of records) if (record.position < to) total++;
      if (next <= at) break;
      at = next;
    }
    return total;
  }

  /** Index of the segment holding `position` (the last whose base is not after it). */
  private indexOf(position: number): number {
    let low = 0;
    let high = this.segments.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.segments[middle]!.base <= position) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  private readerOf(segment: Segment): Promise<FileHandle> {
    segment.reader ??= open(segment.file, "r");
    const reader = segment.reader;
    reader.catch(() => {
      if (segment.reader === reader) segment.reader = undefined;
    });
    return reader;
  }

  private async closeReader(segment: Segment): Promise<void> {
    const reader = segment.reader;
    segment.reader = undefined;
    if (reader) await (await reader.catch(() => undefined))?.close().catch(() => undefined);
  }

  /**
   * Reads the folder again (a follower of a log another instance writes): segments deleted are
   * forgotten, new ones added, and the last one's readable end moves over the whole, checked records
   * appended since. The writer's own view is authoritative and is not refreshed.
   */
  async refresh(): Promise<void> {
    if (this.writer) return;
    const names = await readdir(this.dir);
    const bases = names
      .map((name) => SEGMENT_NAME.exec(name)?.[1])
      .filter((base): base is string => base !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    const known = new Map(this.segments.map((segment) => [segment.base, segment]));
    const segments: Segment[] = [];
    for (const base of bases)
      segments.push(known.get(base) ?? { base, file: join(this.dir, segmentName(base)), size: 0 });
    for (const segment of this.segments) if (!bases.includes(segment.base)) await this.closeReader(segment);
    this.segments = segments;
    for (const [index, segment] of segments.entries()) {
      const last = index === segments.length - 1;
      let size: number;
      try {
        size = (await stat(segment.file)).size;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") continue;
        throw error;
      }
      if (!last) {
        segment.size = size;
        continue;
      }
      if (size <= segment.size) continue;
      const scan = await scanRecords(await this.readerOf(segment), segment.size, size);
      segment.size = scan.end;
    }
  }

  /** Stops taking appends, lets the batch being written finish, refuses the ones waiting. */
  async close(): Promise<void> {
    this.closed = true;
    await this.exclusive(async () => {
      for (const pending of this.pending.splice(0))
        pending.reject(new HeraldError("ChannelNotFound", "the channel's log is closed"));
      await this.dropWriter();
      for (const segment of this.segments) await this.closeReader(segment);
    });
  }
}
