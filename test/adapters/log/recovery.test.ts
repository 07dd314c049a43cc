import assert from "node:assert/strict";
import { access, open, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { crc32, crc32Portable, encodeEvent } from "../../../adapters/log/record.js";
import type { CloudEvent } from "../../../src/events/event.js";
import { testEvent } from "../../support/adapter-fixtures.js";
import { eventually } from "../../support/eventually.js";
import {
  capturingLogger,
  collector,
  logAdapter,
  logChannel,
  orderedSubscription,
  publishOptions,
  segmentFiles,
  temporaryFolder,
} from "./fixtures.js";

/** Events of varied sizes (some without data, some with binary data). */
function eventsOf(prefix: string, sizes: readonly number[]): CloudEvent[] {
  return sizes.map((size, index) => {
    const event = testEvent(`${prefix}-${index}`);
    if (size === 0) return { attributes: event.attributes };
    return { attributes: event.attributes, data: Buffer.alloc(size, index % 251) };
  });
}

/** The end position of each event's record, written in order from position 0. */
function recordEnds(events: readonly CloudEvent[]): number[] {
  let at = 0;
  return events.map((event) => (at += encodeEvent(event).length));
}

/** Publishes `events` in batches of up to 3 and closes the adapter, with a subscription positioned at 0. */
async function writeLog(dir: string, events: readonly CloudEvent[]) {
  const channel = logChannel();
  const writer = logAdapter(dir);
  await writer.createChannel(channel);
  const handle = await writer.subscribe(channel, orderedSubscription(), async () => undefined);
  await handle.close();
  for (let start = 0; start < events.length; start += 3)
    await writer.publish(channel, events.slice(start, start + 3), publishOptions());
  await writer.close();
  return channel;
}

/**
 * Reopens the log (recovering it), and consumes the subscription until a sentinel published after
 * the recovery arrives: everything before it is what the log kept.
 */
async function reopenAndConsume(dir: string, channel: ReturnType<typeof logChannel>) {
  const { logger, entries } = capturingLogger();
  const reader = logAdapter(dir, logger);
  try {
    await reader.createChannel(channel);
    const received = collector();
    await reader.subscribe(channel, orderedSubscription(), received.handler);
    await reader.publish(channel, [testEvent("sentinel")], publishOptions());
    await eventually(() => received.ids().includes("sentinel"), { message: "the sentinel delivered" });
    return { received: received.events.slice(0, -1), entries };
  } finally {
    await reader.close();
  }
}

describe("LogChannel crash safety", () => {
  it("computes the same CRC-32 natively and in its portable form", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fc.nat(), (bytes, seed) => {
        assert.equal(crc32(bytes, seed >>> 0), crc32Portable(bytes, seed >>> 0));
      }),
    );
    // The IEEE check value.
    assert.equal(crc32Portable(Buffer.from("123456789")), 0xcbf43926);
  });

  it(
    "after the last segment is cut at any byte, keeps every record before the cut, intact and in order, drops the torn one and logs it",
    { timeout: 120_000 },
    async (t) => {
      const dir = await temporaryFolder(t);
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3000 })), {
            minLength: 1,
            maxLength: 20,
          }),
          fc.double({ min: 0, max: 1, noNaN: true }),
          async (sizes, where) => {
            const events = eventsOf("cut", sizes);
            const channel = await writeLog(dir, events);
            const [segment] = await segmentFiles(dir, channel);
            const { size } = await stat(segment!);
            const ends = recordEnds(events);
            assert.equal(size, ends.at(-1), "the segment holds exactly the records");
            const cut = Math.floor(where * size);
            await truncate(segment!, cut);

            const { received, entries } = await reopenAndConsume(dir, channel);
            const kept = ends.filter((end) => end <= cut).length;
            assert.deepEqual(
              received.map((event) => event.attributes),
              events.slice(0, kept).map((event) => event.attributes),
            );
            received.forEach((event, index) => assert.deepEqual(event.data, events[index]!.data));
            const torn = entries.filter((entry) => String(entry.msg).startsWith("truncating the torn tail"));
            const keptBytes = kept === 0 ? 0 : ends[kept - 1]!;
            if (cut === keptBytes) assert.equal(torn.length, 0, "nothing to truncate at a record boundary");
            else {
              assert.equal(torn.length, 1, "the truncation is logged");
              assert.equal(torn[0]!.droppedBytes, cut - keptBytes);
              assert.equal(torn[0]!.keptBytes, keptBytes);
            }
          },
        ),
        { numRuns: 30 },
      );
    },
  );

  it("drops a record whose bytes changed, and every record after it in the last segment, logging why", async (t) => {
    const dir = await temporaryFolder(t);
    const events = eventsOf("flip", [10, 20, 30, 40, 50, 60]);
    const channel = await writeLog(dir, events);
    const [segment] = await segmentFiles(dir, channel);
    const ends = recordEnds(events);
    // A byte in the middle of the fourth record's data.
    const at = ends[2]! + Math.floor((ends[3]! - ends[2]!) / 2);
    const file = await open(segment!, "r+");
    const byte = Buffer.alloc(1);
    await file.read(byte, 0, 1, at);
    await file.write(Buffer.from([byte[0]! ^ 0xff]), 0, 1, at);
    await file.close();

    const { received, entries } = await reopenAndConsume(dir, channel);
    assert.deepEqual(
      received.map((event) => event.attributes.id),
      ["flip-0", "flip-1", "flip-2"],
    );
    const torn = entries.find((entry) => String(entry.msg).startsWith("truncating the torn tail"));
    assert.equal(torn?.reason, "checksum mismatch");
    assert.equal(torn?.keptBytes, ends[2]);
  });

  it("skips a corrupt record of an older segment with the rest of that segment, logs it, and delivers the later segments", async (t) => {
    const dir = await temporaryFolder(t);
    const channel = logChannel({ segmentBytes: 1024 });
    const writer = logAdapter(dir);
    await writer.createChannel(channel);
    const paused = await writer.subscribe(channel, orderedSubscription(), async () => undefined);
    await paused.close();
    const events = eventsOf(
      "old",
      Array.from({ length: 12 }, () => 300),
    );
    for (const event of events) await writer.publish(channel, [event], publishOptions());
    await writer.close();
    const segments = await segmentFiles(dir, channel);
    assert.ok(segments.length >= 3, `${segments.length} segments`);
    const ends = recordEnds(events);
    const { size: firstSize } = await stat(segments[0]!);
    const perSegment = ends.filter((end) => end <= firstSize).length;
    assert.ok(perSegment >= 2, `${perSegment} records in the first segment`);
    // Two bytes inside the second record's payload.
    const file = await open(segments[0]!, "r+");
    await file.write(Buffer.from([0xff, 0xff]), 0, 2, ends[0]! + 20);
    await file.close();

    const { logger, entries } = capturingLogger();
    const reader = logAdapter(dir, logger);
    t.after(() => reader.close());
    await reader.createChannel(channel);
    const received = collector();
    await reader.subscribe(channel, orderedSubscription(), received.handler);
    const expected = events.slice(perSegment).map((event) => String(event.attributes.id));
    await eventually(() => expected.every((id) => received.ids().includes(id)), {
      message: "the records of the later segments",
    });
    assert.deepEqual(received.ids(), ["old-0", ...expected]);
    const error = entries.find((entry) => String(entry.msg).startsWith("a record of the log is corrupt"));
    assert.ok(error, "the corruption is logged");
    assert.equal(error.position, ends[0]);
    assert.equal(error.reason, "checksum mismatch");
    assert.equal(error.skippedBytes, firstSize - ends[0]!);
  });

  it("continues every subscription from its committed position after the writer is closed and reopened, removing interrupted writes", async (t) => {
    const dir = await temporaryFolder(t);
    const channel = logChannel();
    const first = logAdapter(dir);
    await first.createChannel(channel);
    const before = collector();
    const handle = await first.subscribe(channel, orderedSubscription("resume"), before.handler);
    await first.publish(channel, eventsOf("early", [5, 5, 5, 5, 5]), publishOptions());
    await eventually(() => before.events.length === 5, { message: "the early events" });
    await handle.close();
    await first.publish(channel, eventsOf("late", [5, 5, 5]), publishOptions());
    await first.close();
    // What a crash in the middle of storing a position leaves.
    const leftover = join(dir, channel.namespace, channel.name, "subscriptions", ".interrupted.tmp");
    await writeFile(leftover, "{");

    const second = logAdapter(dir);
    t.after(() => second.close());
    await second.createChannel(channel);
    await assert.rejects(access(leftover), { code: "ENOENT" }, "the interrupted write's file is removed");
    const after = collector();
    await second.subscribe(channel, orderedSubscription("resume"), after.handler);
    await eventually(() => after.events.length >= 3, { message: "the late events" });
    assert.deepEqual(after.ids(), ["late-0", "late-1", "late-2"]);
  });
});
