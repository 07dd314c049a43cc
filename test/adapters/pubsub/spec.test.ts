import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveTopology, subscriptionName } from "../../../adapters/pubsub/topology.js";
import { pubsubChannelSpecSchema } from "../../../src/resources/pubsub-channel.js";

describe("PubSubChannel spec", () => {
  it("defaults the ack deadline to 60 s and message ordering to off", () => {
    assert.deepEqual(pubsubChannelSpecSchema.parse({}), {
      ackDeadline: "PT60S",
      enableMessageOrdering: false,
    });
  });

  it("rejects ack deadlines and retention outside Pub/Sub's bounds, and invalid topic IDs", () => {
    for (const spec of [
      { ackDeadline: "PT5S" },
      { ackDeadline: "PT601S" },
      { ackDeadline: "60" },
      { messageRetentionDuration: "PT5M" },
      { messageRetentionDuration: "P8D" },
      { topic: "1starts-with-digit" },
      { topic: "goog-reserved" },
      { topic: "has space" },
      { project: "Upper" },
    ]) {
      assert.equal(pubsubChannelSpecSchema.safeParse(spec).success, false, JSON.stringify(spec));
    }
    assert.equal(
      pubsubChannelSpecSchema.safeParse({
        ackDeadline: "PT10M",
        messageRetentionDuration: "P7D",
        topic: "orders.v1~x",
      }).success,
      true,
    );
  });

  it("names the topic herald.{namespace}.{name} in the configured project unless the spec says otherwise", () => {
    const channel = { namespace: "shop", name: "orders", uid: "u1", spec: { ackDeadline: "PT30S" } };
    assert.deepEqual(resolveTopology(channel, "herald"), {
      key: "shop/orders",
      project: "herald",
      topicName: "projects/herald/topics/herald.shop.orders",
      ackDeadlineSeconds: 30,
      retentionSeconds: undefined,
      enableMessageOrdering: false,
    });
    const explicit = resolveTopology(
      { ...channel, spec: { project: "other-project", topic: "legacy-orders" } },
      "herald",
    );
    assert.equal(explicit.topicName, "projects/other-project/topics/legacy-orders");
  });

  it("names subscriptions by namespace, name and uid, within Pub/Sub's 255 characters", () => {
    const topology = resolveTopology({ namespace: "shop", name: "orders", uid: "u1", spec: {} }, "herald");
    const subscription = {
      namespace: "shop",
      name: "billing",
      uid: "1234",
      ordering: "ordered" as const,
      maxInFlight: 1,
    };
    assert.equal(
      subscriptionName(topology, subscription),
      "projects/herald/subscriptions/herald.shop.billing.1234",
    );
    const long = { ...subscription, name: "x".repeat(253), uid: "a".repeat(36) };
    const id = subscriptionName(topology, long).split("/").pop()!;
    assert.equal(id.length, 255);
    assert.notEqual(
      id,
      subscriptionName(topology, { ...long, uid: "b".repeat(36) })
        .split("/")
        .pop(),
    );
  });
});
