import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import type { ChannelTarget, SubscriptionTarget } from "../../../adapters/adapter.js";
import { memoryChannelAdapter } from "../../../adapters/memory/index.js";
import { loadConfig } from "../../../src/config.js";
import { HeraldError } from "../../../src/errors.js";
import type { CloudEvent } from "../../../src/events/event.js";
import { eventually } from "../../support/eventually.js";

const channel: ChannelTarget = { namespace: "default", name: "c", uid: "c-uid", spec: {} };
const subscription = (
  uid: string,
  ordering: "ordered" | "unordered" = "ordered",
  maxInFlight = 1,
): SubscriptionTarget => ({
  namespace: "default",
  name: uid,
  uid,
  ordering,
  maxInFlight,
});
const event = (id: string): CloudEvent => ({
  attributes: { specversion: "1.0", id, source: "/t", type: "t" },
});
const adapter = (capacity = 100) =>
  memoryChannelAdapter.create({
    config: loadConfig({ memory: { capacity } }, {}),
    logger: pino({ level: "silent" }),
  });

describe("in-memory channel adapter", () => {
  it("gives every subscription every event", async () => {
    const memory = adapter();
    await memory.createChannel(channel);
    const seen: Record<string, string[]> = { a: [], b: [] };
    for (const uid of ["a", "b"]) {
      await memory.subscribe(
        channel,
        subscription(uid),
        async (e) => void seen[uid]!.push(String(e.attributes.id)),
      );
    }
    await memory.publish(channel, [event("1"), event("2")]);
    await eventually(() => seen.a!.length === 2 && seen.b!.length === 2);
    assert.deepEqual(seen, { a: ["1", "2"], b: ["1", "2"] });
    await memory.close();
  });

  it("skips events a subscription's filter rejects: no handler call, no queue slot", async () => {
    const memory = adapter(2);
    await memory.createChannel(channel);
    const seen: string[] = [];
    let held: (() => void) | undefined;
    await memory.subscribe(
      channel,
      { ...subscription("even"), accepts: (e) => Number(e.attributes.id) % 2 === 0 },
      async (e) => {
        seen.push(String(e.attributes.id));
        // Hold the first event so the queue fills up behind it.
        if (seen.length === 1) await new Promise<void>((resolve) => (held = resolve));
      },
    );
    await memory.publish(channel, [event("0")]);
    await eventually(() => held);
    // Capacity 2: four odd events would overflow the queue if they took slots.
    await memory.publish(channel, [event("1"), event("3"), event("5"), event("2"), event("7"), event("4")]);
    held!();
    await eventually(() => seen.length === 3);
    assert.deepEqual(seen, ["0", "2", "4"]);
    await memory.close();
  });

  it("redelivers a rejected event before the next one when ordered", async () => {
    const memory = adapter();
    await memory.createChannel(channel);
    const calls: string[] = [];
    let failures = 2;
    await memory.subscribe(channel, subscription("s"), async (e) => {
      calls.push(String(e.attributes.id));
      if (e.attributes.id === "1" && failures-- > 0) throw new Error("not now");
    });
    await memory.publish(channel, [event("1"), event("2")]);
    await eventually(() => calls.includes("2"));
    assert.deepEqual(calls, ["1", "1", "1", "2"]);
  });

  it("runs up to maxInFlight handlers at once when unordered", async () => {
    const memory = adapter();
    await memory.createChannel(channel);
    let inFlight = 0;
    let peak = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    await memory.subscribe(channel, subscription("s", "unordered", 3), async () => {
      peak = Math.max(peak, ++inFlight);
      await gate;
      inFlight--;
    });
    await memory.publish(channel, ["1", "2", "3", "4", "5"].map(event));
    await eventually(() => inFlight === 3);
    release();
    await eventually(() => inFlight === 0);
    assert.equal(peak, 3);
  });

  it("refuses a batch with ChannelFull rather than dropping, all or nothing", async () => {
    const memory = adapter(3);
    await memory.createChannel(channel);
    await memory.subscribe(channel, subscription("s"), () => new Promise(() => undefined));
    await memory.publish(channel, [event("in-flight"), event("1"), event("2")]);
    await assert.rejects(memory.publish(channel, [event("3"), event("4")]), (error: unknown) => {
      assert.ok(error instanceof HeraldError);
      assert.equal(error.code, "ChannelFull");
      return true;
    });
    await memory.publish(channel, [event("3")]);
  });

  it("keeps queued events for a subscription across re-subscribe", async () => {
    const memory = adapter();
    await memory.createChannel(channel);
    const handle = await memory.subscribe(channel, subscription("s"), async () => undefined);
    await handle.close();
    const seen: string[] = [];
    await memory.publish(channel, [event("queued")]);
    await memory.subscribe(channel, subscription("s"), async (e) => void seen.push(String(e.attributes.id)));
    await eventually(() => seen.length === 1);
    assert.deepEqual(seen, ["queued"]);
  });
});
