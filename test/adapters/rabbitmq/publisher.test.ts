import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import type { ChannelModel, ConfirmChannel } from "amqplib";
import { pino } from "pino";
import type { RabbitmqConnection } from "../../../adapters/rabbitmq/connection.js";
import { Publisher } from "../../../adapters/rabbitmq/publisher.js";
import { HeraldError } from "../../../src/errors.js";
import { testEvent } from "../../support/adapter-fixtures.js";

type Confirm = (error: unknown) => void;

/** A connected connection whose confirm channel records each publish and confirms only when told. */
function fakeBroker() {
  const published: { exchange: string; id: unknown; confirm: Confirm }[] = [];
  const channel = Object.assign(new EventEmitter(), {
    publish(
      exchange: string,
      _key: string,
      _content: Buffer,
      options: { messageId?: unknown },
      confirm: Confirm,
    ) {
      published.push({ exchange, id: options.messageId, confirm });
      return true;
    },
  });
  let channelsOpened = 0;
  const model = {
    createConfirmChannel: () => {
      channelsOpened++;
      return Promise.resolve(channel as unknown as ConfirmChannel);
    },
  } as unknown as ChannelModel;
  const connection = {
    blockedReason: () => undefined,
    current: () => model,
    whenConnected: () => Promise.resolve(model),
  } as unknown as RabbitmqConnection;
  return { connection, published, channelsOpened: () => channelsOpened };
}

function isBackendUnavailable(pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof HeraldError, `expected a HeraldError, got ${String(error)}`);
    assert.equal(error.code, "BackendUnavailable");
    assert.match(error.message, pattern);
    return true;
  };
}

/** Resolves once `count` messages were handed to the channel. */
async function published(broker: ReturnType<typeof fakeBroker>, count: number): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (broker.published.length < count) {
    assert.ok(Date.now() < deadline, `${broker.published.length} of ${count} messages published`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe("RabbitMQ publisher", () => {
  const logger = pino({ level: "silent" });
  /** A publisher whose confirm channel is open: its first publish went out and was confirmed. */
  const openedPublisher = async () => {
    const broker = fakeBroker();
    const publisher = new Publisher(broker.connection, logger);
    const opening = publisher.publish("x", [testEvent("open")], { signal: AbortSignal.timeout(5_000) });
    await published(broker, 1);
    broker.published[0]!.confirm(null);
    await opening;
    return { broker, publisher };
  };

  it("resolves a batch only once RabbitMQ confirmed every message of it, on one channel", async () => {
    const broker = fakeBroker();
    const publisher = new Publisher(broker.connection, logger);
    let settled = false;
    const first = publisher
      .publish("herald.default.orders", [testEvent("a"), testEvent("b")], {
        signal: AbortSignal.timeout(5_000),
      })
      .finally(() => (settled = true));
    await published(broker, 2);
    broker.published[0]!.confirm(null);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false, "resolved before the second confirm");
    broker.published[1]!.confirm(null);
    await first;
    // The channel is open now: the next publish goes out at once, on the same channel.
    const second = publisher.publish("herald.default.orders", [testEvent("c")], {
      signal: AbortSignal.timeout(5_000),
    });
    assert.deepEqual(
      broker.published.map((message) => message.id),
      ["a", "b", "c"],
    );
    broker.published[2]!.confirm(null);
    await second;
    assert.equal(broker.channelsOpened(), 1);
    publisher.close();
  });

  it("rejects with BackendUnavailable when RabbitMQ refuses a message", async () => {
    const broker = fakeBroker();
    const publisher = new Publisher(broker.connection, logger);
    const publishing = publisher.publish("x", [testEvent("a"), testEvent("b")], {
      signal: AbortSignal.timeout(5_000),
    });
    await published(broker, 2);
    broker.published[1]!.confirm(new Error("nacked"));
    await assert.rejects(publishing, isBackendUnavailable(/message not confirmed: nacked/));
    // A late confirm of the other message changes nothing.
    broker.published[0]!.confirm(null);
    publisher.close();
  });

  it("rejects a publish RabbitMQ never confirms, once its deadline passed", async () => {
    const { publisher } = await openedPublisher();
    const deadlineMs = 200;
    const started = performance.now();
    await assert.rejects(
      publisher.publish("x", [testEvent("never")], { signal: AbortSignal.timeout(deadlineMs) }),
      isBackendUnavailable(/no acknowledgement before the publish deadline/),
    );
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= deadlineMs - 5, `rejected after ${Math.round(elapsed)} ms, before the deadline`);
    publisher.close();
  });

  it("goes by the caller's deadline without reading its signal while connected", async () => {
    const { broker, publisher } = await openedPublisher();
    // Ingress's options: a deadline, and a signal it would have to create on first read.
    const withDeadline = (deadline: number) => ({
      deadline,
      get signal(): AbortSignal {
        throw new Error("the signal was read");
      },
    });
    const confirmedInTime = publisher.publish(
      "x",
      [testEvent("in-time")],
      withDeadline(performance.now() + 5_000),
    );
    await published(broker, 2);
    broker.published[1]!.confirm(null);
    await confirmedInTime;
    const started = performance.now();
    await assert.rejects(
      publisher.publish("x", [testEvent("late")], withDeadline(performance.now() + 100)),
      isBackendUnavailable(/no acknowledgement before the publish deadline/),
    );
    assert.ok(performance.now() - started >= 95, "rejected before its deadline");
    publisher.close();
  });

  it("rejects what still waits when it closes", async () => {
    const broker = fakeBroker();
    const publisher = new Publisher(broker.connection, logger);
    const publishing = publisher.publish("x", [testEvent("a")], { signal: AbortSignal.timeout(60_000) });
    await published(broker, 1);
    publisher.close();
    await assert.rejects(publishing, isBackendUnavailable(/the adapter is closed/));
  });
});
