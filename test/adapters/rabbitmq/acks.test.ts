// needs: rabbitmq
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { connect, type Channel, type ChannelModel, type Message } from "amqplib";
import { pino } from "pino";
import type { ChannelAdapter, ChannelTarget } from "../../../adapters/adapter.js";
import { rabbitmqConfig } from "../../../adapters/rabbitmq/config.js";
import { queueName, rabbitmqChannelPlugin } from "../../../adapters/rabbitmq/index.js";
import { rabbitmqChannelSpecSchema, type RabbitmqChannelSpec } from "../../../adapters/rabbitmq/spec.js";
import { gate, testEvent, testIds, testSubscription } from "../../support/adapter-fixtures.js";
import { eventually } from "../../support/eventually.js";
import { RABBITMQ_URL } from "../../support/rabbitmq.js";

function channelTarget(spec: Partial<RabbitmqChannelSpec> = {}): ChannelTarget<RabbitmqChannelSpec> {
  return {
    namespace: "default",
    name: `acks-${randomUUID().slice(0, 8)}`,
    uid: randomUUID(),
    spec: rabbitmqChannelSpecSchema.parse(spec),
  };
}

describe("RabbitmqChannel prefetch and batched acks", () => {
  let adapter: ChannelAdapter<RabbitmqChannelSpec>;
  let connection: ChannelModel;
  let probe: Channel;
  /** Every `ack` amqplib sends in this process: its delivery tag and whether it is `multiple`. */
  const acks: { tag: number; multiple: boolean }[] = [];
  let restore: () => void;

  before(async () => {
    adapter = rabbitmqChannelPlugin.create({
      config: rabbitmqConfig.schema.parse({ url: RABBITMQ_URL }),
      logger: pino({ level: "silent" }),
    });
    connection = await connect(RABBITMQ_URL);
    probe = await connection.createChannel();
    // Records the acks the adapter's channels send (they share amqplib's Channel class); RabbitMQ
    // still receives every one of them.
    const prototype = Object.getPrototypeOf(probe) as { ack: Channel["ack"] };
    const ack = prototype.ack;
    prototype.ack = function (this: Channel, message: Message, allUpTo?: boolean) {
      acks.push({ tag: message.fields.deliveryTag, multiple: allUpTo === true });
      return ack.call(this, message, allUpTo);
    };
    restore = () => (prototype.ack = ack);
  });
  after(async () => {
    restore();
    await adapter.close();
    await connection.close();
  });

  /** Messages ready in the subscription's queue (neither delivered nor unacknowledged). */
  async function ready(channel: ChannelTarget<RabbitmqChannelSpec>, name: string): Promise<number> {
    const queue = queueName(channel, testSubscription(name));
    return (await probe.checkQueue(queue)).messageCount;
  }

  for (const { spec, expected } of [
    { spec: {}, expected: 25 },
    { spec: { prefetch: 5 }, expected: 5 },
  ])
    it(`hands over ${expected} events at once to a subscription of maxInFlight 25 on a channel with ${JSON.stringify(spec)}`, async () => {
      const channel = channelTarget(spec);
      await adapter.createChannel(channel);
      const held = gate();
      let started = 0;
      const handle = await adapter.subscribe(
        channel,
        testSubscription("window", "unordered", 25),
        async () => {
          started++;
          await held.promise;
        },
      );
      try {
        await adapter.publish(
          channel,
          testIds("p", 40).map((id) => testEvent(id)),
          { signal: AbortSignal.timeout(5_000) },
        );
        // RabbitMQ keeps what exceeds the prefetch in the queue.
        await eventually(
          async () => started === expected && (await ready(channel, "window")) === 40 - expected,
          {
            timeoutMs: 15_000,
          },
        );
        assert.equal(started, expected);
      } finally {
        held.open();
        await handle.close();
        await adapter.deleteChannel(channel);
      }
    });

  it("acks the events that finish together with one multiple ack, and leaves nothing unacknowledged", async () => {
    const channel = channelTarget();
    await adapter.createChannel(channel);
    const held = gate();
    const delivered: string[] = [];
    const handle = await adapter.subscribe(
      channel,
      testSubscription("batched", "unordered", 10),
      async (event) => {
        delivered.push(String(event.attributes.id));
        await held.promise;
      },
    );
    acks.length = 0;
    await adapter.publish(
      channel,
      testIds("b", 10).map((id) => testEvent(id)),
      { signal: AbortSignal.timeout(5_000) },
    );
    await eventually(() => delivered.length === 10, { timeoutMs: 15_000 });
    held.open();
    await eventually(() => acks.length > 0, { timeoutMs: 15_000 });
    assert.deepEqual(acks, [{ tag: 10, multiple: true }], "one frame for the ten deliveries");
    await handle.close();
    // Closing the consumer's channel would have returned anything unacknowledged to the queue.
    const again: string[] = [];
    const next = await adapter.subscribe(
      channel,
      testSubscription("batched", "unordered", 10),
      async (event) => {
        again.push(String(event.attributes.id));
      },
    );
    await adapter.publish(channel, [testEvent("after")], { signal: AbortSignal.timeout(5_000) });
    await eventually(() => again.includes("after"), { timeoutMs: 15_000 });
    assert.deepEqual(again, ["after"]);
    await next.close();
    await adapter.deleteChannel(channel);
  });

  it("acks the events that finish behind one still in flight, so it does not hold the prefetch", async () => {
    const channel = channelTarget();
    await adapter.createChannel(channel);
    const held = gate();
    const delivered: string[] = [];
    const handle = await adapter.subscribe(
      channel,
      testSubscription("ahead", "unordered", 4),
      async (event) => {
        const id = String(event.attributes.id);
        if (id === "h-0") await held.promise;
        delivered.push(id);
      },
    );
    await adapter.publish(
      channel,
      testIds("h", 30).map((id) => testEvent(id)),
      { signal: AbortSignal.timeout(5_000) },
    );
    // With a prefetch of 4, the 29 others get through only if they are acked while h-0 is held.
    await eventually(() => delivered.length === 29, { timeoutMs: 15_000 });
    held.open();
    await eventually(() => delivered.length === 30, { timeoutMs: 15_000 });
    await handle.close();
    const again: string[] = [];
    const next = await adapter.subscribe(
      channel,
      testSubscription("ahead", "unordered", 4),
      async (event) => {
        again.push(String(event.attributes.id));
      },
    );
    await adapter.publish(channel, [testEvent("after")], { signal: AbortSignal.timeout(5_000) });
    await eventually(() => again.includes("after"), { timeoutMs: 15_000 });
    assert.deepEqual(again, ["after"], "nothing was left unacknowledged");
    await next.close();
    await adapter.deleteChannel(channel);
  });
});
