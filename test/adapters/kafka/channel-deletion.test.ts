// needs: kafka
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { groupId, topicName } from "../../../adapters/kafka/index.js";
import { HeraldError } from "../../../src/errors.js";
import { testEvent, testSubscription } from "../../support/adapter-fixtures.js";
import { eventually } from "../../support/eventually.js";
import { createKafkaAdapter, kafkaChannel, kafkaClient, publishOnce } from "./fixtures.js";

// A kafkajs producer refreshes metadata for every topic it has written to, and fails to once one of
// them is deleted (kafkajs #1146, #1622). These hold the adapter to "deleting a channel affects no
// other channel, and a channel takes events as soon as createChannel resolved".
describe("KafkaChannel deletion", () => {
  it("leaves other channels and channels created afterwards taking events at once", async () => {
    const adapter = createKafkaAdapter();
    const admin = kafkaClient().admin();
    await admin.connect();
    const [ka, kb, kc] = [kafkaChannel("ka"), kafkaChannel("kb"), kafkaChannel("kc")];
    try {
      await adapter.createChannel(ka);
      await adapter.createChannel(kb);
      const onDeleted = testSubscription("on-deleted");
      await adapter.subscribe(ka, onDeleted, async () => {});
      await publishOnce(adapter, ka, [testEvent("a1")]);
      await publishOnce(adapter, kb, [testEvent("b1")]);

      await adapter.deleteChannel(ka);
      const { groups } = await admin.describeGroups([groupId(ka, onDeleted)]);
      assert.deepEqual(groups[0]?.members, [], "the deleted channel's subscriptions stopped");

      await adapter.createChannel(kc);
      const received: string[] = [];
      const handle = await adapter.subscribe(
        kc,
        testSubscription("after-delete"),
        async (event) => void received.push(String(event.attributes.id)),
      );
      await publishOnce(adapter, kc, [testEvent("c1")]);
      await publishOnce(adapter, kb, [testEvent("b2")]);
      await eventually(() => received.includes("c1"), { timeoutMs: 30_000, message: "c1 delivered" });
      await handle.close();
      assert.equal(await adapter.isReady(), true);
    } finally {
      await adapter.deleteChannel(kb).catch(() => undefined);
      await adapter.deleteChannel(kc).catch(() => undefined);
      await adapter.close();
      await admin.disconnect();
    }
  });

  it("keeps publishing when another client deletes a topic this adapter wrote to", async () => {
    const adapter = createKafkaAdapter();
    const admin = kafkaClient().admin();
    await admin.connect();
    const [kx, ky] = [kafkaChannel("kx"), kafkaChannel("ky")];
    try {
      await adapter.createChannel(kx);
      await publishOnce(adapter, kx, [testEvent("x1")]);
      // Another Herald process (or an operator) removes the topic behind this adapter's back.
      await admin.deleteTopics({ topics: [topicName(kx)] });
      await eventually(async () => !(await admin.listTopics()).includes(topicName(kx)));

      await adapter.createChannel(ky);
      await publishOnce(adapter, ky, [testEvent("y1")]);
      assert.equal(await adapter.isReady(), true);
    } finally {
      await adapter.deleteChannel(ky).catch(() => undefined);
      await adapter.close();
      await admin.disconnect();
    }
  });

  it("answers BackendUnavailable for a channel whose topic is gone, and keeps serving the others", async () => {
    const adapter = createKafkaAdapter();
    const admin = kafkaClient().admin();
    await admin.connect();
    const [gone, kept] = [kafkaChannel("gone"), kafkaChannel("kept")];
    try {
      await adapter.createChannel(gone);
      await adapter.createChannel(kept);
      await publishOnce(adapter, gone, [testEvent("g1")]);
      await publishOnce(adapter, kept, [testEvent("k1")]);
      await admin.deleteTopics({ topics: [topicName(gone)] });
      await eventually(async () => !(await admin.listTopics()).includes(topicName(gone)));

      await assert.rejects(
        publishOnce(adapter, gone, [testEvent("g2")]),
        (error: unknown) => error instanceof HeraldError && error.code === "BackendUnavailable",
      );
      await publishOnce(adapter, kept, [testEvent("k2")]);
      await assert.rejects(publishOnce(adapter, gone, [testEvent("g3")]));
      await publishOnce(adapter, kept, [testEvent("k3")]);
    } finally {
      await adapter.deleteChannel(kept).catch(() => undefined);
      await adapter.close();
      await admin.disconnect();
    }
  });
});
