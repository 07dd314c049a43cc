// needs: kafka
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { freePort, HeraldProcess, InProcessHerald, postEvent } from "../support/herald.js";
import { Kafka, logLevel } from "kafkajs";
import { startKafka } from "../support/kafka/broker.js";
import { startReceiver, type Receiver } from "../support/receiver.js";
import { channelWithSubscription, expectNoLossAcrossKill } from "../support/streams.js";

const bootstrap = () => process.env.KAFKA_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092";

const manifests = (subscriber: string, name: string, annotations?: string) =>
  channelWithSubscription({
    name,
    subscriber,
    template: "apiVersion: messaging.knative.dev/v1beta1\n    kind: KafkaChannel",
    templateSpec: "{ numPartitions: 3 }",
    ...(annotations ? { annotations } : {}),
  });

describe("KafkaChannel through Herald's ingress", () => {
  let receiver: Receiver;
  before(async () => {
    receiver = await startReceiver();
  });
  after(async () => {
    await receiver.close();
  });

  it("delivers every 202 event after Herald is SIGKILLed mid-stream", async () => {
    const herald = await HeraldProcess.start();
    try {
      const [channel] = await herald.apply(manifests(receiver.url, "kafka-kill"));
      assert.equal(
        (channel!.status.conditions as { type: string; status: string }[]).find((c) => c.type === "Ready")
          ?.status,
        "True",
      );
      const backing = await herald.get<{ status: { topic?: string } }>(
        "/apis/messaging.knative.dev/v1beta1/namespaces/default/kafkachannels/kafka-kill",
      );
      assert.equal(backing.body.status.topic, "knative-messaging-kafka.default.kafka-kill");
      await expectNoLossAcrossKill(herald, "kafka-kill", receiver, 90_000);
    } finally {
      await herald.close();
    }
  });

  it("takes events on a KafkaChannel created right after another was deleted, and stays ready", async () => {
    const herald = await InProcessHerald.start({ env: { HERALD_KAFKA_BOOTSTRAP_SERVERS: bootstrap() } });
    const kafkaChannel = (name: string) => `
apiVersion: messaging.knative.dev/v1beta1
kind: KafkaChannel
metadata: { name: ${name} }
`;
    try {
      await herald.apply(`${kafkaChannel("del-ka")}---${kafkaChannel("del-kb")}`);
      assert.equal(await postEvent(herald.channelUrl("del-ka")), 202);
      assert.equal(await postEvent(herald.channelUrl("del-kb")), 202);
      assert.equal(
        await herald.delete("/apis/messaging.knative.dev/v1beta1/namespaces/default/kafkachannels/del-ka"),
        200,
      );
      const [created] = await herald.apply(kafkaChannel("del-kc"));
      const ready = (created!.status.conditions as { type: string; status: string }[]).find(
        (c) => c.type === "Ready",
      );
      assert.equal(ready?.status, "True");
      // Ready means ready: the first publishes are accepted, not answered 503 for a while.
      for (let i = 0; i < 5; i++) {
        assert.equal(await postEvent(herald.channelUrl("del-kc")), 202);
        assert.equal(await postEvent(herald.channelUrl("del-kb")), 202);
      }
      assert.equal((await fetch(`${herald.url}/readyz`)).status, 200);
    } finally {
      await herald.close();
    }
  });

  it("shares a subscription's work between two Herald processes that load the same manifests", async () => {
    const shared = await startReceiver();
    const first = await HeraldProcess.start();
    const second = await HeraldProcess.start();
    const admin = new Kafka({
      clientId: "herald-test",
      brokers: [process.env.KAFKA_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092"],
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    try {
      for (const herald of [first, second]) await herald.apply(manifests(shared.url, "kafka-shared"));
      const group = "knative-messaging-kafka.default.kafka-shared.kafka-shared";
      await eventually(
        async () => {
          const { groups } = await admin.describeGroups([group]);
          return groups[0]?.state === "Stable" && groups[0].members.length === 2;
        },
        { timeoutMs: 60_000, message: "one consumer group with a member from each process" },
      );
      const ids = Array.from({ length: 60 }, (_, i) => `shared-${i}`);
      for (const [i, id] of ids.entries()) {
        const herald = i % 2 === 0 ? first : second;
        assert.equal(await postEvent(herald.channelUrl("kafka-shared"), { id }), 202);
      }
      await eventually(() => ids.every((id) => shared.requests.some((r) => r.headers["ce-id"] === id)), {
        timeoutMs: 60_000,
        message: "every event delivered",
      });
      // Shared, not once per process: were each process consuming the whole topic, every event would
      // arrive twice. Kafka delivers at least once, so a rebalance while the two members settle may
      // repeat the events whose offsets were not yet committed; most still arrive exactly once.
      const times = (id: string) => shared.requests.filter((r) => r.headers["ce-id"] === id).length;
      const once = ids.filter((id) => times(id) === 1);
      assert.ok(
        once.length > ids.length / 2,
        `${once.length} of ${ids.length} events arrived exactly once (${shared.requests.length} deliveries)`,
      );
      assert.ok(
        ids.every((id) => times(id) <= 2),
        "no event arrived more than twice",
      );
    } finally {
      await admin.disconnect();
      await Promise.all([first.close(), second.close()]);
      await shared.close();
    }
  });

  it("answers 503 while Kafka is down, and ingress and dispatch recover by themselves", async () => {
    const port = await freePort();
    const kafka = await startKafka(port);
    const herald = await HeraldProcess.start({ env: { HERALD_KAFKA_BOOTSTRAP_SERVERS: kafka.bootstrap } });
    try {
      await herald.apply(manifests(receiver.url, "kafka-outage"));
      assert.equal(await postEvent(herald.channelUrl("kafka-outage"), { id: "k-before" }), 202);
      await eventually(() => receiver.requests.some((r) => r.headers["ce-id"] === "k-before"), {
        timeoutMs: 30_000,
      });
      await kafka.stop();
      assert.equal(await postEvent(herald.channelUrl("kafka-outage"), { id: "k-during" }), 503);
      await kafka.start();
      await eventually(
        async () => (await postEvent(herald.channelUrl("kafka-outage"), { id: "k-after" })) === 202,
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      await eventually(() => receiver.requests.some((r) => r.headers["ce-id"] === "k-after"), {
        timeoutMs: 90_000,
      });
    } finally {
      await herald.close();
      await kafka.destroy();
    }
  });

  it("deletes the topic when the channel is deleted", async () => {
    const herald = await HeraldProcess.start();
    try {
      await herald.apply(manifests(receiver.url, "kafka-delete"));
      const response = await fetch(
        `${herald.url}/apis/messaging.knative.dev/v1/namespaces/default/channels/kafka-delete`,
        { method: "DELETE" },
      );
      assert.equal(response.status, 200);
      const { Kafka, logLevel } = await import("kafkajs");
      const admin = new Kafka({
        clientId: "herald-test",
        brokers: [process.env.KAFKA_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092"],
        logLevel: logLevel.NOTHING,
      }).admin();
      await admin.connect();
      try {
        await eventually(
          async () => !(await admin.listTopics()).includes("knative-messaging-kafka.default.kafka-delete"),
        );
      } finally {
        await admin.disconnect();
      }
    } finally {
      await herald.close();
    }
  });
});
