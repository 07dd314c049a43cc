import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pubsubConfigSchema } from "../../../adapters/pubsub/config.js";
import { pubsubChannelSpecSchema } from "../../../adapters/pubsub/spec.js";
import { resolveTopology, subscriptionName } from "../../../adapters/pubsub/topology.js";

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
    const channel = {
      namespace: "shop",
      name: "orders",
      uid: "u1",
      spec: pubsubChannelSpecSchema.parse({ ackDeadline: "PT30S" }),
    };
    assert.deepEqual(resolveTopology(channel, "herald"), {
      key: "shop/orders",
      namespace: "shop",
      name: "orders",
      project: "herald",
      topicName: "projects/herald/topics/herald.shop.orders",
      ackDeadlineSeconds: 30,
      retentionSeconds: undefined,
      enableMessageOrdering: false,
    });
    const explicit = resolveTopology(
      {
        ...channel,
        spec: pubsubChannelSpecSchema.parse({ project: "other-project", topic: "legacy-orders" }),
      },
      "herald",
    );
    assert.equal(explicit.topicName, "projects/other-project/topics/legacy-orders");
  });

  it("names subscriptions by namespace, channel and name, never the uid, within Pub/Sub's rules", () => {
    const channel = { namespace: "shop", name: "orders", uid: "u1", spec: pubsubChannelSpecSchema.parse({}) };
    const topology = resolveTopology(channel, "herald");
    const subscription = { namespace: "shop", name: "billing" };
    assert.equal(
      subscriptionName(topology, subscription),
      "projects/herald/subscriptions/herald.shop.orders.billing",
    );
    // Kubernetes allows 253-character names; the ID keeps its start and a hash of the whole.
    const long = { namespace: "shop", name: "x".repeat(253) };
    const id = subscriptionName(topology, long).split("/").pop()!;
    assert.equal(id.length, 255);
    assert.match(id, /^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/);
    assert.notEqual(
      id,
      subscriptionName(topology, { ...long, name: `${"x".repeat(252)}y` })
        .split("/")
        .pop(),
    );
    const otherChannel = resolveTopology({ ...channel, name: "refunds" }, "herald");
    assert.notEqual(subscriptionName(otherChannel, subscription), subscriptionName(topology, subscription));
  });
});

describe("Pub/Sub configuration", () => {
  it("defaults the project to herald and deletes the topology with its resources", () => {
    assert.deepEqual(pubsubConfigSchema.parse({}), { projectId: "herald", keepTopologyOnDelete: false });
  });

  it("reads keepTopologyOnDelete from its environment variable's text", () => {
    assert.equal(pubsubConfigSchema.parse({ keepTopologyOnDelete: "true" }).keepTopologyOnDelete, true);
    assert.equal(pubsubConfigSchema.parse({ keepTopologyOnDelete: "0" }).keepTopologyOnDelete, false);
    assert.equal(pubsubConfigSchema.safeParse({ keepTopologyOnDelete: "yes" }).success, false);
  });
});
