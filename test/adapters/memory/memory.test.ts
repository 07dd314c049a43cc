import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { pino } from "pino";
import type { ChannelAdapter, ChannelTarget, PublishOptions } from "../../../adapters/adapter.js";
import { memoryConfig } from "../../../adapters/memory/config.js";
import { memoryChannelPlugin } from "../../../adapters/memory/index.js";
import { inMemoryChannelSpecSchema } from "../../../adapters/memory/spec.js";
import { loadConfig, sliceOf } from "../../../src/config.js";
import { HeraldError } from "../../../src/errors.js";
import { gate, testEvent, testSubscription, uniqueName } from "../../support/adapter-fixtures.js";
import { eventually } from "../../support/eventually.js";
import { describeChannelAdapter } from "../conformance.js";

const logger = pino({ level: "silent" });

function memory(
  capacity?: number,
  bytes: { maxBytes?: number; totalMaxBytes?: number } = {},
): ChannelAdapter {
  const config = memoryConfig.schema.parse({ ...(capacity === undefined ? {} : { capacity }), ...bytes });
  return memoryChannelPlugin.create({ config, logger });
}

/** An event whose data is `size` bytes (its attributes add a few dozen more). */
function sized(id: string, size: number) {
  return { ...testEvent(id), data: Buffer.alloc(size, 0x61) };
}

const isChannelFull = (error: unknown) => error instanceof HeraldError && error.code === "ChannelFull";

describeChannelAdapter(
  "InMemoryChannel",
  { create: () => memory(), channelSpec: () => inMemoryChannelSpecSchema.parse({}) },
  {
    durable: false,
    sharedAcrossInstances: false,
    orderedScope: "channel",
    // In-memory events are gone once delivered: nothing to replay.
    replay: false,
    boundedCapacity: { capacity: 5, create: () => memory(5) },
  },
);

const now = (): PublishOptions => ({ signal: AbortSignal.timeout(5_000) });
const idOf = (event: { attributes: Record<string, unknown> }) => String(event.attributes.id);

async function channelOn(adapter: ChannelAdapter): Promise<ChannelTarget> {
  const channel = { namespace: "default", name: uniqueName("c"), uid: uniqueName("uid"), spec: {} };
  await adapter.createChannel(channel);
  return channel;
}

describe("InMemoryChannel adapter", () => {
  it("takes its byte budgets from HERALD_MEMORY_MAX_BYTES and HERALD_MEMORY_TOTAL_MAX_BYTES, 64 MiB and 256 MiB by default", () => {
    const defaults = sliceOf(loadConfig({}, {}, [memoryConfig]), memoryConfig);
    assert.equal(defaults.maxBytes, 64 * 1024 * 1024);
    assert.equal(defaults.totalMaxBytes, 256 * 1024 * 1024);
    const config = loadConfig(
      {},
      { HERALD_MEMORY_MAX_BYTES: "1000", HERALD_MEMORY_TOTAL_MAX_BYTES: "5000" },
      [memoryConfig],
    );
    assert.deepEqual(sliceOf(config, memoryConfig), {
      capacity: 10_000,
      maxBytes: 1000,
      totalMaxBytes: 5000,
    });
    assert.throws(
      () =>
        loadConfig({}, { HERALD_MEMORY_MAX_BYTES: "5000", HERALD_MEMORY_TOTAL_MAX_BYTES: "1000" }, [
          memoryConfig,
        ]),
      /memory\.totalMaxBytes \(HERALD_MEMORY_TOTAL_MAX_BYTES\): must be at least memory\.maxBytes/,
    );
  });

  it("refuses with ChannelFull once a subscription holds maxBytes, counting the event in flight, and takes events again once they are delivered", async (t) => {
    const adapter = memory(undefined, { maxBytes: 10_000 });
    const channel = await channelOn(adapter);
    const held = gate();
    t.after(async () => {
      held.open();
      await adapter.close();
    });
    const seen: string[] = [];
    await adapter.subscribe(channel, testSubscription("s", "ordered", 1), async (event) => {
      seen.push(idOf(event));
      await held.promise;
    });
    // The first is in flight (held by the handler), the next two queued: about 9 000 bytes.
    for (const id of ["a", "b", "c"]) await adapter.publish(channel, [sized(id, 3_000)], now());
    await eventually(() => seen.length === 1);
    await assert.rejects(adapter.publish(channel, [sized("d", 3_000)], now()), (error: unknown) => {
      assert.ok(isChannelFull(error));
      assert.match((error as Error).message, /the limit is 10000: HERALD_MEMORY_MAX_BYTES/);
      return true;
    });
    // A small event still fits under the budget.
    await adapter.publish(channel, [sized("small", 100)], now());
    held.open();
    await eventually(() => seen.length === 4);
    await adapter.publish(channel, [sized("e", 3_000)], now());
    await eventually(() => seen.includes("e"));
    assert.deepEqual(seen, ["a", "b", "c", "small", "e"]);
  });

  it("refuses with ChannelFull once every channel together holds totalMaxBytes; an event of several subscriptions counts once", async (t) => {
    const adapter = memory(undefined, { maxBytes: 14_000, totalMaxBytes: 15_000 });
    const first = await channelOn(adapter);
    const second = await channelOn(adapter);
    t.after(() => adapter.close());
    // Subscriptions without a consumer: what they are given stays held.
    for (const name of ["s1", "s2"]) {
      const handle = await adapter.subscribe(first, testSubscription(name), async () => undefined);
      await handle.close();
    }
    const other = await adapter.subscribe(second, testSubscription("s3"), async () => undefined);
    await other.close();
    // Two subscriptions hold each of these, in one copy: 12 000 bytes of the 15 000.
    for (const id of ["a", "b", "c", "d"]) await adapter.publish(first, [sized(id, 3_000)], now());
    await assert.rejects(adapter.publish(second, [sized("e", 3_000)], now()), (error: unknown) => {
      assert.ok(isChannelFull(error));
      assert.match((error as Error).message, /in-memory channels are full.*HERALD_MEMORY_TOTAL_MAX_BYTES/);
      return true;
    });
    // Deleting a subscription frees nothing held by the other; deleting both frees the events.
    await adapter.deleteSubscription(first, testSubscription("s1"));
    await assert.rejects(adapter.publish(second, [sized("e", 3_000)], now()), isChannelFull);
    await adapter.deleteSubscription(first, testSubscription("s2"));
    await adapter.publish(second, [sized("e", 3_000)], now());
  });

  it("refuses an event larger than a subscription's byte budget with PayloadTooLarge", async (t) => {
    const adapter = memory(undefined, { maxBytes: 1_000 });
    t.after(() => adapter.close());
    const channel = await channelOn(adapter);
    await adapter.subscribe(channel, testSubscription("s"), async () => undefined);
    await assert.rejects(
      adapter.publish(channel, [sized("huge", 2_000)], now()),
      (error: unknown) => error instanceof HeraldError && error.code === "PayloadTooLarge",
    );
  });

  it("lets go of a delivered event at once: nothing acknowledged stays referenced", async (t) => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const adapter = memory();
    t.after(() => adapter.close());
    const channel = await channelOn(adapter);
    let handled = 0;
    await adapter.subscribe(channel, testSubscription("s", "ordered", 1), async () => {
      handled++;
    });
    const data: WeakRef<Buffer>[] = [];
    // In a function of its own, so that no variable of the test keeps an event alive.
    const publishOne = async (id: string) => {
      const event = sized(id, 1_000);
      data.push(new WeakRef(event.data));
      await adapter.publish(channel, [event], now());
    };
    for (const id of ["1", "2", "3"]) await publishOne(id);
    await eventually(() => handled === 3);
    await eventually(
      () => {
        gc();
        return data.every((ref) => ref.deref() === undefined);
      },
      { message: "the delivered events to be collected" },
    );
  });

  it("reports the events a channel accepts while it has no subscription", async (t) => {
    const reported: [string, number][] = [];
    const adapter = memoryChannelPlugin.create({
      config: memoryConfig.schema.parse({}),
      logger,
      onUnconsumed: (channel, events) => reported.push([channel.name, events]),
    });
    t.after(() => adapter.close());
    const channel = await channelOn(adapter);
    await adapter.publish(channel, [testEvent("1"), testEvent("2")], now());
    assert.deepEqual(reported, [[channel.name, 2]]);
    const seen: string[] = [];
    await adapter.subscribe(channel, testSubscription("s"), async (event) => {
      seen.push(idOf(event));
    });
    await adapter.publish(channel, [testEvent("3")], now());
    await eventually(() => seen.length === 1);
    assert.deepEqual(reported, [[channel.name, 2]]);
  });

  it("logs, per channel, how many events it discards when it closes", async () => {
    const lines: string[] = [];
    const capture = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const config = memoryConfig.schema.parse({});
    const adapter = memoryChannelPlugin.create({ config, logger: pino({ level: "info" }, capture) });
    const kept = await channelOn(adapter);
    const drained = await channelOn(adapter);
    for (const name of ["a", "b"]) {
      const handle = await adapter.subscribe(kept, testSubscription(name), async () => undefined);
      await handle.close();
    }
    const seen: string[] = [];
    await adapter.subscribe(drained, testSubscription("c"), async (event) => {
      seen.push(idOf(event));
    });
    await adapter.publish(
      kept,
      ["1", "2", "3"].map((id) => testEvent(id)),
      now(),
    );
    await adapter.publish(drained, [testEvent("4")], now());
    await eventually(() => seen.length === 1);
    await adapter.close();
    const warnings = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(
      warnings.map(({ channel, discarded, subscriptions }) => ({ channel, discarded, subscriptions })),
      [{ channel: `default/${kept.name}`, discarded: 6, subscriptions: { "default/a": 3, "default/b": 3 } }],
    );
    assert.match(String(warnings[0]!.msg), /discarded at shutdown/);
  });

  it("takes its capacity from HERALD_MEMORY_CAPACITY (memory.capacity), 10 000 by default", () => {
    assert.equal(sliceOf(loadConfig({}, {}, [memoryConfig]), memoryConfig).capacity, 10_000);
    const config = loadConfig({}, { HERALD_MEMORY_CAPACITY: "7" }, [memoryConfig]);
    assert.equal(sliceOf(config, memoryConfig).capacity, 7);
  });

  it("skips events a subscription's filter rejects: no handler call, no queue slot", async (t) => {
    const adapter = memory(2);
    const channel = await channelOn(adapter);
    const seen: string[] = [];
    const held = gate();
    // Let go of the held handler call first, or closing would wait for it.
    t.after(async () => {
      held.open();
      await adapter.close();
    });
    await adapter.subscribe(
      channel,
      {
        ...testSubscription("even", "ordered", 1),
        accepts: (event) => Number(event.attributes.id) % 2 === 0,
      },
      async (event) => {
        seen.push(idOf(event));
        // Holds the first event so the queue fills up behind it.
        if (seen.length === 1) await held.promise;
      },
    );
    await adapter.publish(channel, [testEvent("0")], now());
    await eventually(() => seen.length === 1);
    // Capacity 2: four odd events would overflow the queue if they took slots.
    await adapter.publish(
      channel,
      ["1", "3", "5", "2", "7", "4"].map((id) => testEvent(id)),
      now(),
    );
    held.open();
    await eventually(() => seen.length === 3);
    assert.deepEqual(seen, ["0", "2", "4"]);
  });

  it("refuses a batch with ChannelFull when a queue lacks room for all of it, and queues none of it", async (t) => {
    const adapter = memory(3);
    const channel = await channelOn(adapter);
    const seen: string[] = [];
    const held = gate();
    // Let go of the held handler call first, or closing would wait for it.
    t.after(async () => {
      held.open();
      await adapter.close();
    });
    await adapter.subscribe(channel, testSubscription("s", "ordered", 1), async (event) => {
      seen.push(idOf(event));
      await held.promise;
    });
    await adapter.publish(
      channel,
      ["held", "1", "2"].map((id) => testEvent(id)),
      now(),
    );
    await eventually(() => seen.length === 1);
    await assert.rejects(
      adapter.publish(
        channel,
        ["refused-a", "refused-b"].map((id) => testEvent(id)),
        now(),
      ),
      (error: unknown) => error instanceof HeraldError && error.code === "ChannelFull",
    );
    await adapter.publish(channel, [testEvent("3")], now());
    held.open();
    await eventually(() => seen.includes("3"));
    // Ordered: a queued part of the refused batch would have come before "3".
    assert.deepEqual(seen, ["held", "1", "2", "3"]);
  });

  it("refuses with BackendUnavailable, queuing nothing, once the caller's deadline has passed", async (t) => {
    const adapter = memory();
    t.after(() => adapter.close());
    const channel = await channelOn(adapter);
    const seen: string[] = [];
    await adapter.subscribe(channel, testSubscription("s", "ordered", 1), async (event) => {
      seen.push(idOf(event));
    });
    await assert.rejects(
      adapter.publish(channel, [testEvent("late")], { signal: AbortSignal.abort() }),
      (error: unknown) => error instanceof HeraldError && error.code === "BackendUnavailable",
    );
    await adapter.publish(channel, [testEvent("on-time")], now());
    await eventually(() => seen.includes("on-time"));
    assert.deepEqual(seen, ["on-time"]);
  });

  it("answers ChannelNotFound for a channel that was not created", async (t) => {
    const adapter = memory();
    t.after(() => adapter.close());
    const channel = { namespace: "default", name: uniqueName("missing"), uid: "u", spec: {} };
    await assert.rejects(
      adapter.publish(channel, [testEvent("1")], now()),
      (error: unknown) => error instanceof HeraldError && error.code === "ChannelNotFound",
    );
  });

  it("names a subscription's queue after its namespace and name: a new uid continues the queued events", async (t) => {
    const adapter = memory();
    t.after(() => adapter.close());
    const channel = await channelOn(adapter);
    const target = testSubscription("s", "ordered", 1);
    const handle = await adapter.subscribe(channel, target, async () => undefined);
    await handle.close();
    await adapter.publish(channel, [testEvent("queued")], now());
    const seen: string[] = [];
    await adapter.subscribe(channel, { ...target, uid: "another-uid" }, async (event) => {
      seen.push(idOf(event));
    });
    await eventually(() => seen.length === 1);
    assert.deepEqual(seen, ["queued"]);
  });

  it("unordered: goes on with later events while a rejected one waits for its redelivery", async (t) => {
    const adapter = memory();
    t.after(() => adapter.close());
    const channel = await channelOn(adapter);
    const handled: string[] = [];
    let rejected = false;
    await adapter.subscribe(channel, testSubscription("s", "unordered", 1), async (event) => {
      if (idOf(event) === "first" && !rejected) {
        rejected = true;
        throw new Error("rejected on purpose");
      }
      handled.push(idOf(event));
    });
    await adapter.publish(
      channel,
      ["first", "second", "third"].map((id) => testEvent(id)),
      now(),
    );
    await eventually(() => handled.includes("first"));
    assert.deepEqual(handled, ["second", "third", "first"]);
  });
});
