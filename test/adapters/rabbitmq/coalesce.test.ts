// needs: rabbitmq
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { Socket } from "node:net";
import { describe, it } from "node:test";
import { connect, type ChannelModel } from "amqplib";
import { coalesceWrites } from "../../../adapters/rabbitmq/coalesce.js";
import { RABBITMQ_URL } from "../../support/rabbitmq.js";

const MESSAGES = 20;

/**
 * Publishes MESSAGES persistent messages in one event-loop turn on a confirm channel to a queue of
 * its own, waits for every confirm, and counts the socket writes that carried them.
 */
async function publishInOneTurn(coalesce: boolean): Promise<{ writes: number; ready: number }> {
  const model: ChannelModel = await connect(RABBITMQ_URL);
  try {
    if (coalesce) assert.equal(coalesceWrites(model), true);
    const channel = await model.createConfirmChannel();
    const queue = `coalesce-${randomUUID().slice(0, 8)}`;
    await channel.assertQueue(queue, { exclusive: true });
    const socket = (model.connection as unknown as { stream: Socket }).stream;
    let writes = 0;
    const count = <T extends (...args: never[]) => unknown>(write: T) =>
      function (this: Socket, ...args: Parameters<T>) {
        writes++;
        return write.apply(this, args);
      } as unknown as T;
    const internals = socket as unknown as { _write: () => void; _writev: () => void };
    internals._write = count(internals._write);
    internals._writev = count(internals._writev);
    for (let index = 0; index < MESSAGES; index++)
      channel.sendToQueue(queue, Buffer.from(`message ${index}`), { persistent: true });
    await channel.waitForConfirms();
    const counted = writes;
    const { messageCount } = await channel.checkQueue(queue);
    return { writes: counted, ready: messageCount };
  } finally {
    await model.close();
  }
}

describe("RabbitMQ write coalescing", () => {
  it("sends the messages of one event-loop turn in one socket write, each confirmed and queued", async () => {
    const separate = await publishInOneTurn(false);
    const coalesced = await publishInOneTurn(true);
    // Without coalescing amqplib writes each message on its own: the count is what is saved.
    assert.ok(separate.writes >= MESSAGES, `uncoalesced: ${separate.writes} writes`);
    assert.equal(coalesced.writes, 1, `coalesced: ${coalesced.writes} writes`);
    assert.equal(coalesced.ready, MESSAGES);
  });

  it("leaves a connection of an unexpected shape alone", () => {
    const model = { connection: { serverProperties: {} } } as unknown as ChannelModel;
    assert.equal(coalesceWrites(model), false);
  });
});
