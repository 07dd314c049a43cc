// needs: rabbitmq
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { connect } from "amqplib";
import { pino } from "pino";
import type { ChannelAdapter, ChannelTarget, DeliveryContext } from "../../../adapters/adapter.js";
import { toAmqpMessage, fromAmqpMessage } from "../../../adapters/rabbitmq/binding.js";
import { exchangeName, queueName, rabbitmqChannelAdapter } from "../../../adapters/rabbitmq/index.js";
import { loadConfig } from "../../../src/config.js";
import type { CloudEvent } from "../../../src/events/event.js";
import { testEvent, testSubscription } from "../../support/adapter-fixtures.js";
import { eventually } from "../../support/eventually.js";
import { RABBITMQ_URL } from "../../support/rabbitmq.js";

const event = testEvent;
const subscription = testSubscription;

async function exists(kind: "queue" | "exchange", name: string): Promise<boolean> {
  const connection = await connect(RABBITMQ_URL);
  try {
    const channel = await connection.createChannel();
    channel.on("error", () => undefined);
    if (kind === "queue") await channel.checkQueue(name);
    else await channel.checkExchange(name);
    await channel.close();
    return true;
  } catch {
    return false;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

describe("RabbitMQ binding", () => {
  it("round-trips attributes with their AMQP types, content-type and data", () => {
    const original = event("1", { count: 3, flag: true, subject: "a b" });
    const { content, options } = toAmqpMessage(original);
    assert.equal(options.headers!.cloudEvents_count, 3);
    assert.equal(options.contentType, "application/json");
    assert.equal(options.persistent, true);
    const decoded = fromAmqpMessage({
      content,
      properties: { headers: options.headers, contentType: options.contentType },
      fields: {},
    } as never);
    assert.deepEqual(decoded, original);
  });

  it("explains why a message is not a CloudEvent", () => {
    const decoded = fromAmqpMessage({
      content: Buffer.from("hi"),
      properties: { headers: {} },
      fields: {},
    } as never);
    assert.match(String(decoded), /specversion/);
  });
});

describe("RabbitmqChannel adapter on a real RabbitMQ", () => {
  let adapter: ChannelAdapter;
  let channel: ChannelTarget;
  before(async () => {
    adapter = rabbitmqChannelAdapter.create({
      config: loadConfig({ rabbitmq: { url: RABBITMQ_URL } }, {}),
      logger: pino({ level: "silent" }),
    });
    channel = {
      namespace: "default",
      name: `test-${randomUUID().slice(0, 8)}`,
      uid: randomUUID(),
      spec: { queueType: "quorum", prefetch: 10 },
    };
    assert.deepEqual(await adapter.createChannel(channel), { exchange: exchangeName(channel) });
  });
  after(async () => {
    await adapter.deleteChannel(channel).catch(() => undefined);
    await adapter.close();
  });

  it("fans out every event to every subscription", async () => {
    const seen: Record<string, string[]> = { a: [], b: [] };
    const handles = await Promise.all(
      ["a", "b"].map((name) =>
        adapter.subscribe(
          channel,
          subscription(`fan-${name}`),
          async (e) => void seen[name]!.push(String(e.attributes.id)),
        ),
      ),
    );
    await adapter.publish(channel, [event("1"), event("2"), event("3")]);
    await eventually(() => seen.a!.length === 3 && seen.b!.length === 3);
    assert.deepEqual(seen.a!.sort(), ["1", "2", "3"]);
    await Promise.all(handles.map((h) => h.close()));
  });

  it("keeps order in ordered mode while the handler rejects some attempts", async () => {
    const calls: string[] = [];
    let failures = 2;
    const handle = await adapter.subscribe(channel, subscription("ordered", "ordered", 1), async (e) => {
      calls.push(String(e.attributes.id));
      if (e.attributes.id === "o2" && failures-- > 0) throw new Error("not yet");
    });
    await adapter.publish(
      channel,
      ["o1", "o2", "o3", "o4"].map((id) => event(id)),
    );
    await eventually(() => calls.includes("o4"), { timeoutMs: 15_000 });
    assert.deepEqual(calls, ["o1", "o2", "o2", "o2", "o3", "o4"]);
    await handle.close();
  });

  it("runs handlers concurrently in unordered mode, bounded by the prefetch", async () => {
    let inFlight = 0;
    let peak = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const handle = await adapter.subscribe(channel, subscription("concurrent", "unordered", 4), async () => {
      peak = Math.max(peak, ++inFlight);
      await gate;
      inFlight--;
    });
    await adapter.publish(
      channel,
      Array.from({ length: 8 }, (_, i) => event(`c${i}`)),
    );
    await eventually(() => inFlight === 4);
    release();
    await eventually(() => inFlight === 0);
    assert.equal(peak, 4);
    await handle.close();
  });

  it("hands a message that is not a CloudEvent over as undecodable", async () => {
    const received: { event: CloudEvent; context: DeliveryContext }[] = [];
    const handle = await adapter.subscribe(
      channel,
      subscription("undecodable"),
      async (e, context) => void received.push({ event: e, context }),
    );
    const connection = await connect(RABBITMQ_URL);
    const raw = await connection.createConfirmChannel();
    raw.publish(exchangeName(channel), "", Buffer.from("plain text"), {
      contentType: "text/plain",
      messageId: "raw-1",
    });
    await raw.waitForConfirms();
    await connection.close();
    const got = await eventually(() => received.find((r) => r.event.attributes.id === "raw-1"));
    assert.match(String(got.context.undecodable), /not a CloudEvent/);
    assert.equal(got.event.data?.toString(), "plain text");
    await handle.close();
  });

  it("creates a queue per subscription and removes the topology on delete", async () => {
    const target = {
      namespace: "default",
      name: `gone-${randomUUID().slice(0, 8)}`,
      uid: randomUUID(),
      spec: { queueType: "classic" },
    };
    await adapter.createChannel(target);
    const sub = subscription("doomed");
    const handle = await adapter.subscribe(target, sub, async () => undefined);
    assert.equal(await exists("exchange", exchangeName(target)), true);
    assert.equal(await exists("queue", queueName(target, sub)), true);
    await handle.close();
    await adapter.deleteSubscription(target, sub);
    assert.equal(await exists("queue", queueName(target, sub)), false);
    await adapter.deleteChannel(target);
    assert.equal(await exists("exchange", exchangeName(target)), false);
  });
});
