import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { REPLAY_EXTENSION } from "../../../adapters/adapter.js";
import { encodeEvent } from "../../../adapters/log/record.js";
import { HeraldError } from "../../../src/errors.js";
import { Recorder, testEvent, testIds } from "../../support/adapter-fixtures.js";
import { eventually } from "../../support/eventually.js";
import { logAdapter, logChannel, orderedSubscription, temporaryFolder } from "./fixtures.js";

const now = () => ({ signal: AbortSignal.timeout(5_000) });

describe("LogChannel replay", () => {
  it("replays from a byte offset, an offset inside a record moving on to the next record", async (t) => {
    const dir = await temporaryFolder(t);
    const adapter = logAdapter(dir);
    t.after(() => adapter.close());
    const channel = logChannel();
    await adapter.createChannel(channel);
    const target = orderedSubscription("offset");
    const recorder = new Recorder();
    const handle = await adapter.subscribe(channel, target, recorder.handler);
    const ids = testIds("off", 4);
    const events = ids.map((id) => testEvent(id));
    await adapter.publish(channel, events, now());
    await eventually(() => recorder.handledAll(ids), { message: "the events" });
    await handle.close();

    // Records are laid end to end from position 0: the third starts after the first two.
    const third = encodeEvent(events[0]!).length + encodeEvent(events[1]!).length;
    const result = await adapter.seek(channel, target, { from: "offset", offset: third - 3 });
    assert.deepEqual(result, { position: third });
    const next = new Recorder();
    await adapter.subscribe(channel, target, next.handler);
    await eventually(() => next.handledAll(["off-2", "off-3"]), { message: "the replayed events" });
    assert.deepEqual(next.firstSuccesses(), ["off-2", "off-3"]);
    assert.equal(next.calls[0]!.event.attributes[REPLAY_EXTENSION], `offset:${third - 3}`);
  });

  it("refuses an offset past the end of the log with BadRequest naming from", async (t) => {
    const dir = await temporaryFolder(t);
    const adapter = logAdapter(dir);
    t.after(() => adapter.close());
    const channel = logChannel();
    await adapter.createChannel(channel);
    await assert.rejects(
      adapter.seek(channel, orderedSubscription(), { from: "offset", offset: 1_000_000 }),
      (error: unknown) =>
        error instanceof HeraldError && error.code === "BadRequest" && /^from: offset/.test(error.message),
    );
  });

  it("a replay sought before a restart is still marked after it, and stops being marked at the events published after the seek", async (t) => {
    const dir = await temporaryFolder(t);
    const first = logAdapter(dir);
    const channel = logChannel();
    await first.createChannel(channel);
    const target = orderedSubscription("restart");
    const recorder = new Recorder();
    const handle = await first.subscribe(channel, target, recorder.handler);
    const early = testIds("kept", 3);
    await first.publish(
      channel,
      early.map((id) => testEvent(id)),
      now(),
    );
    await eventually(() => recorder.handledAll(early), { message: "the events" });
    await handle.close();
    await first.seek(channel, target, { from: "beginning" });
    await first.publish(channel, [testEvent("after-seek")], now());
    await first.close();

    const restarted = logAdapter(dir);
    t.after(() => restarted.close());
    await restarted.createChannel(channel);
    const next = new Recorder();
    await restarted.subscribe(channel, target, next.handler);
    await eventually(() => next.handledAll([...early, "after-seek"]), { message: "the replay" });
    const marks = next.calls.map((call) => [call.id, call.event.attributes[REPLAY_EXTENSION]]);
    assert.deepEqual(marks, [
      ["kept-0", "beginning"],
      ["kept-1", "beginning"],
      ["kept-2", "beginning"],
      ["after-seek", undefined],
    ]);
  });
});
