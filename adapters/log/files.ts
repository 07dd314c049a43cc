import { open, type FileHandle } from "node:fs/promises";
import { HEADER_BYTES, MAX_PAYLOAD_BYTES, parseRecord } from "./record.js";

/** How much a scan or a read takes from a file at once. */
export const CHUNK_BYTES = 1024 * 1024;

/** Makes a folder's entries (a file created or renamed in it) durable. */
export async function syncFolder(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export interface Scan {
  readonly records: { offset: number; next: number; payload: Buffer }[];
  /** The end of the last whole, checked record read. */
  readonly end: number;
  /** Where the scan was to stop. */
  readonly limit: number;
  /** Why it stopped before `limit`, when it did. */
  readonly problem?: string | undefined;
}

/**
 * Reads and checks the records of a file between `from` and `limit` (about `maxBytes` of them; all
 * of them when unbounded), stopping at the first that is incomplete or corrupt.
 */
export async function scanRecords(
  handle: FileHandle,
  from: number,
  limit: number,
  maxBytes = Number.POSITIVE_INFINITY,
): Promise<Scan> {
  const records: Scan["records"] = [];
  let at = from;
  while (at < limit && at - from < maxBytes) {
    let length = Math.min(CHUNK_BYTES, limit - at);
    if (length < HEADER_BYTES) return { records, end: at, limit, problem: "an incomplete record header" };
    let chunk = await readAt(handle, at, length);
    if (chunk.length < HEADER_BYTES)
      return { records, end: at, limit, problem: "an incomplete record header" };
    const head = parseRecord(chunk, 0, chunk.length);
    if (head.kind === "incomplete" && length < limit - at) {
      // A record larger than a chunk: read exactly it.
      const whole = HEADER_BYTES + chunk.readUInt32BE(0);
      if (whole > MAX_PAYLOAD_BYTES + HEADER_BYTES || at + whole > limit)
        return { records, end: at, limit, problem: "an incomplete record" };
      length = whole;
      chunk = await readAt(handle, at, length);
    }
    let offset = 0;
    while (offset < chunk.length) {
      const parsed = parseRecord(chunk, offset, chunk.length);
      if (parsed.kind === "record") {
        records.push({ offset: at + offset, next: at + parsed.next, payload: parsed.payload });
        offset = parsed.next;
        continue;
      }
      if (parsed.kind === "corrupt") return { records, end: at + offset, limit, problem: parsed.reason };
      // Incomplete: cut by the chunk (read on from it), or by `limit` (the tail is torn).
      if (at + chunk.length >= limit)
        return { records, end: at + offset, limit, problem: "an incomplete record" };
      break;
    }
    if (offset === 0) return { records, end: at, limit, problem: "an incomplete record" };
    at += offset;
  }
  return { records, end: at, limit };
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) return buffer.subarray(0, filled);
    filled += bytesRead;
  }
  return buffer;
}

export async function writeAll(
  handle: FileHandle,
  buffers: readonly Buffer[],
  position: number,
): Promise<void> {
  let remaining = buffers;
  let at = position;
  for (;;) {
    let total = 0;
    for (const buffer of remaining) total += buffer.length;
    if (total === 0) return;
    const { bytesWritten } = await handle.writev(remaining as Buffer[], at);
    if (bytesWritten === total) return;
    // A short write: continue with what is left.
    const rest = Buffer.concat(remaining).subarray(bytesWritten);
    remaining = [rest];
    at += bytesWritten;
  }
}
