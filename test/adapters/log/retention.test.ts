import assert from "node:assert/strict";
import { access, utimes } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { HeraldError } from "../../../src/errors.js";
import { gate, testEvent, testIds } from "../../support/adapter-fixtures.js";
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

const bigEvent = (id: string) => ({ ...testEvent(id), data: Buffer.alloc(400, 7) });

describe("LogChannel retention", () => {
  it("deletes the segments every subscription has consumed, and keeps those one has not", async (t) => {
    const dir = await temporaryFolder(t);
    const adapter = logAdapter(dir);
    t.after(() => adapter.close());
    const channel = logChannel({ segmentBytes: 1024 });
    await adapter.createChannel(channel);
    const behind = orderedSubscription("behind");
    const paused = await adapter.subscribe(channel, behind, async () => undefined);
    await paused.close();
    const taking = collector();
    await adapter.subscribe(channel, orderedSubscription("taking"), taking.handler);
    const ids = testIds("r", 20);
    for (const id of ids) await adapter.publish(channel, [bigEvent(id)], publishOptions());
    await eventually(() => taking.events.length === 20, {
      message: "every event at the taking subscription",
    });
    const log = await adapter.logOf(channel);
    await log.retain();
    const kept = await segmentFiles(dir, channel);
    assert.ok(kept.length >= 5, `the segments "behind" has not consumed are kept (${kept.length})`);

    await adapter.deleteSubscription(channel, behind);
    await log.retain();
    assert.deepEqual(
      (await segmentFiles(dir, channel)).length,
      1,
      "only the active segment is left once every subscription consumed the rest",
    );
  });

  it("keeps taking events into a full log when nothing subscribes: they are consumed as written", async (t) => {
    const dir = await temporaryFolder(t);
    const adapter = logAdapter(dir);
    t.after(() => adapter.close());
    const channel = logChannel({ segmentBytes: 1024, retentionBytes: 4096 });
    await adapter.createChannel(channel);
    for (const id of testIds("none", 60)) await adapter.publish(channel, [bigEvent(id)], publishOptions());
    assert.ok((await segmentFiles(dir, channel)).length <= 5);
  });

  it("refuses a batch larger than retentionBytes with PayloadTooLarge, and a batch that does not fit with ChannelFull", async (t) => {
    const dir = await temporaryFolder(t);
    const adapter = logAdapter(dir);
    const held = gate();
    t.after(async () => {
      held.open();
      await adapter.close();
    });
    const channel = logChannel({ segmentBytes: 1024, retentionBytes: 2048 });
    await adapter.createChannel(channel);
    await adapter.subscribe(channel, orderedSubscription(), () => held.promise);
    await assert.rejects(
      adapter.publish(channel, testIds("huge", 6).map(bigEvent), publishOptions()),
      (error: unknown) => error instanceof HeraldError && error.code === "PayloadTooLarge",
    );
    await adapter.publish(channel, testIds("fits", 3).map(bigEvent), publishOptions());
    await assert.rejects(
      adapter.publish(channel, testIds("more", 2).map(bigEvent), publishOptions()),
      (error: unknown) =>
        error instanceof HeraldError && error.code === "ChannelFull" && /retentionBytes/.test(error.message),
    );
  });

  it("deletes segments older than retentionDuration even when a subscription has not taken them, and logs what it lost", async (t) => {
    const dir = await temporaryFolder(t);
    const { logger, entries } = capturingLogger();
    const adapter = logAdapter(dir, logger);
    t.after(() => adapter.close());
    const channel = logChannel({ segmentBytes: 1024, retentionDuration: "PT1H" });
    await adapter.createChannel(channel);
    const subscription = orderedSubscription("slow");
    const paused = await adapter.subscribe(channel, subscription, async () => undefined);
    await paused.close();
    for (const id of testIds("old", 9)) await adapter.publish(channel, [bigEvent(id)], publishOptions());
    const segments = await segmentFiles(dir, channel);
    assert.ok(segments.length >= 3);
    // Age the segments (retention reads the time of a segment's last write).
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    for (const file of segments) await utimes(file, twoHoursAgo, twoHoursAgo);

    await (await adapter.logOf(channel)).retain();
    assert.equal((await segmentFiles(dir, channel)).length, 1, "only a new, empty active segment is left");
    const lost = entries.find((entry) => String(entry.msg).startsWith("retention deleted events"));
    assert.ok(lost, "the loss is logged");
    assert.equal(lost.subscription, "default/slow");
    assert.equal(lost.events, 9);

    const received = collector();
    await adapter.subscribe(channel, subscription, received.handler);
    await adapter.publish(channel, [testEvent("new")], publishOptions());
    await eventually(() => received.ids().includes("new"), { message: "an event published after retention" });
    assert.deepEqual(received.ids(), ["new"]);
  });

  it("deleting a channel removes its log and positions; a handle closed afterwards writes nothing back", async (t) => {
    const dir = await temporaryFolder(t);
    const adapter = logAdapter(dir);
    t.after(() => adapter.close());
    const channel = logChannel();
    await adapter.createChannel(channel);
    const received = collector();
    const handle = await adapter.subscribe(channel, orderedSubscription(), received.handler);
    await adapter.publish(channel, [testEvent("before-delete")], publishOptions());
    await eventually(() => received.events.length === 1, { message: "the event delivered" });
    await adapter.deleteChannel(channel);
    await handle.close();
    const folder = join(dir, channel.namespace, channel.name);
    await assert.rejects(access(folder), { code: "ENOENT" }, "the channel's folder is gone");
  });

  it("runs retention by itself at an interval derived from retentionDuration", async (t) => {
    const dir = await temporaryFolder(t);
    const adapter = logAdapter(dir);
    t.after(() => adapter.close());
    const channel = logChannel({ segmentBytes: 1024, retentionDuration: "PT1S" });
    await adapter.createChannel(channel);
    const paused = await adapter.subscribe(channel, orderedSubscription("idle"), async () => undefined);
    await paused.close();
    for (const id of testIds("aging", 6)) await adapter.publish(channel, [bigEvent(id)], publishOptions());
    const written = await segmentFiles(dir, channel);
    assert.ok(written.length >= 2);
    await eventually(
      async () => {
        const now = await segmentFiles(dir, channel);
        return now.every((file) => !written.includes(file));
      },
      { timeoutMs: 15_000, message: "every segment written to be deleted once older than a second" },
    );
  });
});
