import * as zlib from "node:zlib";
import type { AttributeValue, CloudEvent } from "../../src/events/event.js";

/**
 * The bytes of the log. A segment file is a sequence of records, each:
 *
 *   length  u32 BE   bytes of the payload
 *   crc     u32 BE   CRC-32 (IEEE) of the 4 length bytes and the payload
 *   payload
 *
 * The checksum covers the length, so a zero-filled or torn tail never reads as a record. An event's
 * payload is:
 *
 *   format    u8       2 (1: the same without `accepted`, as written before replay by time existed)
 *   flags     u8       bit 0: the event has data (an empty data is not "no data")
 *   attrs     u32 BE   bytes of the attributes' JSON
 *   accepted  f64 BE   when the log accepted it, ms since the epoch (replay from a time seeks by it)
 *   the attributes as one JSON object (CloudEvents names, JSON types kept), then the data bytes.
 */
export const HEADER_BYTES = 8;
/** No record is larger; a length above it is corruption, not a record to wait for. */
export const MAX_PAYLOAD_BYTES = 256 * 2 ** 20;
const FORMAT = 2;
const FORMAT_UNTIMED = 1;
const HAS_DATA = 1;
const PAYLOAD_HEADER_BYTES = 14;
const UNTIMED_HEADER_BYTES = 6;

type Crc32 = (data: Uint8Array, value?: number) => number;

/** node:zlib's crc32 (Node 20.15+), else the same CRC computed with a table. */
const nativeCrc32 = (zlib as Partial<{ crc32: Crc32 }>).crc32;

const TABLE = buildTable();

/** CRC-32 (IEEE 802.3, as zlib computes it), continuing from `value`. */
export function crc32Portable(data: Uint8Array, value = 0): number {
  const table = TABLE;
  let crc = ~value;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

function buildTable(): Int32Array {
  const built = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    built[n] = c;
  }
  return built;
}

export const crc32: Crc32 = nativeCrc32 ?? crc32Portable;

function checksum(record: Buffer, start: number, payloadEnd: number): number {
  return crc32(record.subarray(start + HEADER_BYTES, payloadEnd), crc32(record.subarray(start, start + 4)));
}

/** A record around `payload` (header and checksum added). */
export function frame(payload: Uint8Array): Buffer {
  const record = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  record.writeUInt32BE(payload.length, 0);
  record.set(payload, HEADER_BYTES);
  record.writeUInt32BE(checksum(record, 0, record.length), 4);
  return record;
}

/** The record of an event accepted at `acceptedAt` (ms since the epoch), in one buffer. */
export function encodeEvent(event: CloudEvent, acceptedAt: number = Date.now()): Buffer {
  const attributes = JSON.stringify(event.attributes);
  const attributesBytes = Buffer.byteLength(attributes);
  const data = event.data;
  const payloadBytes = PAYLOAD_HEADER_BYTES + attributesBytes + (data?.length ?? 0);
  const record = Buffer.allocUnsafe(HEADER_BYTES + payloadBytes);
  record.writeUInt32BE(payloadBytes, 0);
  let at = HEADER_BYTES;
  record[at++] = FORMAT;
  record[at++] = data ? HAS_DATA : 0;
  record.writeUInt32BE(attributesBytes, at);
  at += 4;
  record.writeDoubleBE(acceptedAt, at);
  at += 8;
  at += record.write(attributes, at, "utf8");
  if (data) data.copy(record, at);
  record.writeUInt32BE(checksum(record, 0, record.length), 4);
  return record;
}

export type Parsed =
  | { readonly kind: "record"; readonly payload: Buffer; readonly next: number }
  /** The bytes end inside the record: a tail still being written, or torn. */
  | { readonly kind: "incomplete" }
  | { readonly kind: "corrupt"; readonly reason: string };

/** Reads the record at `start` of `bytes` (valid up to `end`), checking its checksum. */
export function parseRecord(bytes: Buffer, start: number, end: number): Parsed {
  if (end - start < HEADER_BYTES) return { kind: "incomplete" };
  const length = bytes.readUInt32BE(start);
  if (length > MAX_PAYLOAD_BYTES)
    return { kind: "corrupt", reason: `record length ${length} is over the ${MAX_PAYLOAD_BYTES} byte limit` };
  const payloadEnd = start + HEADER_BYTES + length;
  if (payloadEnd > end) return { kind: "incomplete" };
  if (checksum(bytes, start, payloadEnd) !== bytes.readUInt32BE(start + 4))
    return { kind: "corrupt", reason: "checksum mismatch" };
  return { kind: "record", payload: bytes.subarray(start + HEADER_BYTES, payloadEnd), next: payloadEnd };
}

/** The length of the record whose header starts at `start`, header included. */
export function recordBytes(bytes: Buffer, start: number): number {
  return HEADER_BYTES + bytes.readUInt32BE(start);
}

/**
 * When the log accepted the event of `payload` (ms since the epoch), read without decoding it;
 * undefined for a record of format 1 or one that is not an event.
 */
export function acceptedAtOf(payload: Buffer): number | undefined {
  if (payload.length < PAYLOAD_HEADER_BYTES || payload[0] !== FORMAT) return undefined;
  return payload.readDoubleBE(UNTIMED_HEADER_BYTES);
}

/** Reads an event payload; a string says why it is not one. The data is copied out of `payload`. */
export function decodeEvent(payload: Buffer): CloudEvent | string {
  const format = payload[0];
  if (format !== FORMAT && format !== FORMAT_UNTIMED)
    return `the record has format ${format}, not an event of format ${FORMAT} or ${FORMAT_UNTIMED}`;
  const headerBytes = format === FORMAT ? PAYLOAD_HEADER_BYTES : UNTIMED_HEADER_BYTES;
  if (payload.length < headerBytes) return "the record is too short to be an event";
  const hasData = (payload[1]! & HAS_DATA) !== 0;
  const attributesEnd = headerBytes + payload.readUInt32BE(2);
  if (attributesEnd > payload.length) return "the record's attributes run past its end";
  let attributes: unknown;
  try {
    attributes = JSON.parse(payload.toString("utf8", headerBytes, attributesEnd));
  } catch (error) {
    return `the record's attributes are not JSON: ${(error as Error).message}`;
  }
  if (!isAttributes(attributes)) return "the record's attributes are not CloudEvents attributes";
  return {
    attributes,
    data: hasData ? Buffer.from(payload.subarray(attributesEnd)) : undefined,
  };
}

function isAttributes(value: unknown): value is Record<string, AttributeValue> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const record = value as Record<string, unknown>;
  if (typeof record.specversion !== "string") return false;
  for (const key in record) {
    const type = typeof record[key];
    if (type !== "string" && type !== "number" && type !== "boolean") return false;
  }
  return true;
}
