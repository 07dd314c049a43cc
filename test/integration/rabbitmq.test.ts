// needs: rabbitmq
import { execFileSync } from "node:child_process";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { HeraldProcess, postEvent } from "../support/herald.js";
import { closeHeraldConnections } from "../support/rabbitmq.js";
import { startReceiver, type Receiver } from "../support/receiver.js";
import { channelWithSubscription, expectNoLossAcrossKill, missing, postStream } from "../support/streams.js";

const manifests = (subscriber: string, name: string) =>
  channelWithSubscription({
    name,
    subscriber,
    template: "apiVersion: messaging.herald.dev/v1alpha1\n    kind: RabbitmqChannel",
  });

describe("RabbitmqChannel through Herald's ingress", () => {
  let receiver: Receiver;
  let herald: HeraldProcess;
  before(async () => {
    receiver = await startReceiver();
    herald = await HeraldProcess.start();
  });
  after(async () => {
    await herald.close();
    await receiver.close();
  });

  it("delivers every 202 event after Herald is SIGKILLed mid-stream", async () => {
    const [channel] = await herald.apply(manifests(receiver.url, "rmq-kill"));
    assert.equal(
      (channel!.status.conditions as { type: string; status: string }[]).find((c) => c.type === "Ready")
        ?.status,
      "True",
    );
    await expectNoLossAcrossKill(herald, "rmq-kill", receiver);
  });

  it("reconnects by itself when RabbitMQ closes its connections, losing nothing accepted", async () => {
    await herald.apply(manifests(receiver.url, "rmq-reconnect"));
    const accepted = await postStream(
      () => herald.channelUrl("rmq-reconnect"),
      100,
      "rmq-reconnect",
      async (i) => {
        if (i === 50)
          assert.ok((await closeHeraldConnections()) > 0, "Herald had a RabbitMQ connection to close");
      },
    );
    assert.ok(accepted.size >= 60, `only ${accepted.size} events were accepted`);
    await eventually(
      async () => (await postEvent(herald.channelUrl("rmq-reconnect"), { id: "after-reconnect" })) === 202,
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    accepted.add("after-reconnect");
    await eventually(() => missing(accepted, receiver).length === 0, {
      timeoutMs: 60_000,
      message: "every accepted event to be delivered",
    });
  });

  it("removes the channel's exchange and queues when the Channel is deleted", async () => {
    await herald.apply(manifests(receiver.url, "rmq-delete"));
    const response = await fetch(
      `${herald.url}/apis/messaging.knative.dev/v1/namespaces/default/channels/rmq-delete`,
      { method: "DELETE" },
    );
    assert.equal(response.status, 200);
    const exchanges = execFileSync("rabbitmqctl", ["list_exchanges", "-q", "--no-table-headers", "name"])
      .toString()
      .split("\n");
    const queues = execFileSync("rabbitmqctl", ["list_queues", "-q", "--no-table-headers", "name"])
      .toString()
      .split("\n");
    assert.ok(!exchanges.includes("herald.default.rmq-delete"), "the exchange is gone");
    assert.ok(!queues.includes("herald.default.rmq-delete.rmq-delete"), "the subscription's queue is gone");
  });
});
