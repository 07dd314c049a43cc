// needs: rabbitmq
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { connect } from "amqplib";
import { pino } from "pino";
import type { ChannelAdapter, ChannelTarget } from "../../../adapters/adapter.js";
import { fromAmqpMessage, toAmqpMessage } from "../../../adapters/rabbitmq/binding.js";
import { rabbitmqConfig } from "../../../adapters/rabbitmq/config.js";
import { exchangeName, queueName, rabbitmqChannelPlugin } from "../../../adapters/rabbitmq/index.js";
import { rabbitmqChannelSpecSchema, type RabbitmqChannelSpec } from "../../../adapters/rabbitmq/spec.js";
import { HeraldError } from "../../../src/errors.js";
import { testEvent as event, testSubscription as subscription } from "../../support/adapter-fixtures.js";
import { eventually } from "../../support/eventually.js";
import { describeChannelAdapter } from "../conformance.js";
import { closeHeraldConnections, RABBITMQ_URL } from "../../support/rabbitmq.js";

function createAdapter(url = RABBITMQ_URL): ChannelAdapter {
  return rabbitmqChannelPlugin.create({
    config: rabbitmqConfig.schema.parse({ url }),
    logger: pino({ level: "silent" }),
  });
}

function channelTarget(
  spec: Partial<RabbitmqChannelSpec> = {},
  prefix = "test",
): ChannelTarget<RabbitmqChannelSpec> {
  return {
    namespace: "default",
    name: `${prefix}-${randomUUID().slice(0, 8)}`,
    uid: randomUUID(),
    spec: rabbitmqChannelSpecSchema.parse(spec),
  };
}

function deadline(ms = 5_000): { signal: AbortSignal } {
  return { signal: AbortSignal.timeout(ms) };
}

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

/** Publishes raw bytes to the channel's exchange as another AMQP client would. */
async function publishRaw(exchange: string, body: Buffer): Promise<void> {
  const connection = await connect(RABBITMQ_URL);
  try {
    const raw = await connection.createConfirmChannel();
    raw.publish(exchange, "", body, { contentType: "text/plain" });
    await raw.waitForConfirms();
  } finally {
    await connection.close();
  }
}

function isBackendUnavailable(error: unknown): boolean {
  assert.ok(error instanceof HeraldError, `expected a HeraldError, got ${String(error)}`);
  assert.equal(error.code, "BackendUnavailable");
  return true;
}

describeChannelAdapter<RabbitmqChannelSpec>(
  "RabbitmqChannel",
  {
    create: () => createAdapter(),
    channelSpec: () => rabbitmqChannelSpecSchema.parse({}),
    unreachable: ({ host, port }) => createAdapter(`amqp://guest:guest@${host}:${port}`),
  },
  {
    durable: true,
    sharedAcrossInstances: true,
    orderedScope: "channel",
    replay: {
      from: ["beginning", "time", "offset"],
      channelSpec: () => rabbitmqChannelSpecSchema.parse({ queueType: "stream" }),
      refusedSpec: () => rabbitmqChannelSpecSchema.parse({ queueType: "quorum" }),
    },
    undecodable: (channel, body) => publishRaw(exchangeName(channel), body),
  },
);

describe("RabbitMQ binding", () => {
  it("round-trips attributes with their AMQP types, content-type and data", () => {
    const original = event("1", { count: 3, flag: true, subject: "a b" });
    const { content, options } = toAmqpMessage(original);
    assert.equal((options.headers as Record<string, unknown>).cloudEvents_count, 3);
    assert.equal(options.contentType, "application/json");
    assert.equal(options.persistent, true);
    const decoded = fromAmqpMessage({
      content,
      properties: { headers: options.headers as Record<string, unknown>, contentType: options.contentType },
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
    assert.equal(typeof decoded, "string");
    assert.match(decoded as string, /specversion/);
  });
});

describe("RabbitmqChannel plug-in", () => {
  it("declares the kind, the configuration slice and the RabbitMQBroker class", () => {
    assert.equal(rabbitmqChannelPlugin.kind.kind, "RabbitmqChannel");
    assert.equal(rabbitmqChannelPlugin.kind.group, "messaging.herald.dev");
    assert.deepEqual(rabbitmqChannelPlugin.kind.versions, ["v1alpha1"]);
    assert.equal(rabbitmqChannelPlugin.kind.plural, "rabbitmqchannels");
    assert.deepEqual(rabbitmqChannelPlugin.kind.shortNames, ["rmqc", "rabbitmqchannel"]);
    assert.deepEqual(rabbitmqChannelPlugin.brokerClasses, ["RabbitMQBroker"]);
    assert.deepEqual(rabbitmqConfig.schema.parse({}), { url: "amqp://guest:guest@127.0.0.1:5672" });
    assert.deepEqual(rabbitmqConfig.variables, {
      HERALD_RABBITMQ_URL: "url",
      HERALD_RABBITMQ_URL_FILE: "urlFile",
    });
    assert.deepEqual(rabbitmqConfig.secretPaths, ["url"]);
  });

  it("defaults the spec and rejects an unknown queue type", () => {
    assert.deepEqual(rabbitmqChannelSpecSchema.parse({}), { queueType: "quorum" });
    assert.equal(rabbitmqChannelSpecSchema.safeParse({ queueType: "lazy" }).success, false);
    assert.equal(rabbitmqChannelSpecSchema.parse({ queueType: "stream" }).queueType, "stream");
    assert.equal(rabbitmqChannelSpecSchema.safeParse({ prefetch: 0 }).success, false);
    assert.equal(rabbitmqChannelSpecSchema.safeParse({ messageTtl: "soon" }).success, false);
  });
});

describe("RabbitmqChannel adapter on a real RabbitMQ", () => {
  let adapter: ChannelAdapter;
  let channel: ChannelTarget<RabbitmqChannelSpec>;
  before(async () => {
    adapter = createAdapter();
    channel = channelTarget();
    assert.deepEqual(await adapter.createChannel(channel), { exchange: exchangeName(channel) });
  });
  after(async () => {
    await adapter.deleteChannel(channel).catch(() => undefined);
    await adapter.close();
  });

  it("creates a queue per subscription and removes the topology on delete", async () => {
    const target = channelTarget({ queueType: "classic" }, "gone");
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

  it("rejects a publish to a deleted channel with BackendUnavailable and keeps publishing to others", async () => {
    const doomed = channelTarget({}, "deleted");
    await adapter.createChannel(doomed);
    await adapter.deleteChannel(doomed);
    await assert.rejects(adapter.publish(doomed, [event("lost")], deadline()), isBackendUnavailable);
    const seen: string[] = [];
    const handle = await adapter.subscribe(channel, subscription("after-404"), async (e) => {
      seen.push(String(e.attributes.id));
    });
    await adapter.publish(channel, [event("still-works")], deadline());
    await eventually(() => seen.includes("still-works"));
    await handle.close();
  });

  it("re-declares a queue deleted behind its back and consumes it again", async () => {
    const sub = subscription("recreated");
    const seen: string[] = [];
    const handle = await adapter.subscribe(
      channel,
      sub,
      async (e) => void seen.push(String(e.attributes.id)),
    );
    const connection = await connect(RABBITMQ_URL);
    const amqp = await connection.createChannel();
    await amqp.deleteQueue(queueName(channel, sub));
    await connection.close();
    await eventually(() => exists("queue", queueName(channel, sub)), { message: "the queue re-declared" });
    // The queue exists before it is bound to the channel's exchange again: an event published in
    // between does not reach it, so events are published until one arrives.
    let published = 0;
    await eventually(
      async () => {
        await adapter.publish(channel, [event(`after-recreate-${++published}`)], deadline());
        return seen.some((id) => id.startsWith("after-recreate-"));
      },
      { message: "an event published once the queue is back reaching the subscription" },
    );
    await handle.close();
  });
});

describe("RabbitmqChannel adapter across connection loss", { timeout: 120_000 }, () => {
  it("reports not ready while the connection is down, then restores topology and consumers", async () => {
    const adapter = createAdapter();
    const channel = channelTarget();
    try {
      await adapter.createChannel(channel);
      assert.equal(await adapter.isReady(), true);
      const seen: string[] = [];
      const handle = await adapter.subscribe(channel, subscription("recovering"), async (e) => {
        seen.push(String(e.attributes.id));
      });
      await adapter.publish(channel, [event("before")], deadline());
      await eventually(() => seen.includes("before"));

      assert.ok((await closeHeraldConnections()) > 0, "no Herald connection to close");
      await eventually(async () => !(await adapter.isReady()), { message: "isReady() to turn false" });
      await eventually(() => adapter.isReady(), { timeoutMs: 30_000, message: "isReady() to turn true" });

      await adapter.publish(channel, [event("after")], deadline());
      await eventually(() => seen.includes("after"), { timeoutMs: 15_000 });
      await handle.close();
    } finally {
      await adapter.deleteChannel(channel).catch(() => undefined);
      await adapter.close();
    }
  });
});

describe("RabbitmqChannel adapter without a reachable RabbitMQ", () => {
  it("is not ready and rejects publish with BackendUnavailable within the deadline", async () => {
    const adapter = createAdapter("amqp://guest:guest@127.0.0.1:1");
    try {
      assert.equal(await adapter.isReady(), false);
      const started = Date.now();
      await assert.rejects(
        adapter.publish(channelTarget(), [event("x")], deadline(500)),
        isBackendUnavailable,
      );
      assert.ok(Date.now() - started < 2_000, "publish outlived its deadline");
      await assert.rejects(adapter.createChannel(channelTarget()), isBackendUnavailable);
    } finally {
      await adapter.close();
    }
  });
});
