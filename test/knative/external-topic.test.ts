// needs: kafka
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Kafka, logLevel, type Admin } from "kafkajs";
import { eventually } from "../support/eventually.js";
import { InProcessHerald, postEvent } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/**
 * A Kafka Broker with eventing-kafka-broker's `kafka.eventing.knative.dev/external.topic`
 * annotation runs on that existing topic: events posted to the Broker are records of the topic and
 * reach its Triggers, and deleting the Broker leaves the topic, as Knative's Kafka broker does.
 */
const KAFKA = process.env.KAFKA_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092";

interface Status {
  status: {
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    channel?: { kind: string; name: string };
  };
}

describe("Kafka Broker on an external topic", () => {
  let herald: InProcessHerald;
  let subscriber: Receiver;
  let admin: Admin;
  const kafka = new Kafka({ clientId: "herald-test", brokers: [KAFKA], logLevel: logLevel.NOTHING });

  before(async () => {
    herald = await InProcessHerald.start({ env: { HERALD_KAFKA_BOOTSTRAP_SERVERS: KAFKA } });
    subscriber = await startReceiver();
    admin = kafka.admin();
    await admin.connect();
  });
  after(async () => {
    await admin?.disconnect();
    await subscriber?.close();
    await herald?.close();
  });

  const readyOf = async (path: string) =>
    (await herald.get<Status>(path)).body.status?.conditions?.find((c) => c.type === "Ready");

  it("is not Ready until the named topic exists, then delivers through it, never creating or deleting it", async () => {
    const namespace = `external-${randomUUID().slice(0, 6)}`;
    const topic = `herald-external-${randomUUID().slice(0, 8)}`;
    try {
      await herald.apply(`apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: default
  namespace: ${namespace}
  annotations:
    eventing.knative.dev/broker.class: Kafka
    kafka.eventing.knative.dev/external.topic: ${topic}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: all, namespace: ${namespace} }
spec:
  broker: default
  subscriber: { uri: "${subscriber.url}" }
`);
      const broker = `/apis/eventing.knative.dev/v1/namespaces/${namespace}/brokers/default`;
      const trigger = `/apis/eventing.knative.dev/v1/namespaces/${namespace}/triggers/all`;
      // Not Ready while the topic does not exist, as Knative's Kafka broker; Ready once it is created.
      const missing = await eventually(async () => {
        const ready = await readyOf(broker);
        return ready?.status === "False" && ready;
      });
      assert.equal(missing.reason, "TopicNotPresentOrInvalid");
      assert.ok(!(await admin.listTopics()).includes(topic), "Herald does not create the external topic");
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 2 }] });
      await eventually(async () => (await readyOf(trigger))?.status === "True", {
        timeoutMs: 30_000,
        message: "the Trigger of the external-topic Broker to be Ready",
      });
      assert.equal((await readyOf(broker))?.status, "True");
      // Herald made no topic of its own for the Broker.
      assert.ok(
        !(await admin.listTopics()).includes(`knative-messaging-kafka.${namespace}.default-kne-trigger`),
      );

      const id = `external-${randomUUID()}`;
      assert.equal(
        await postEvent(`${herald.url}/brokers/${namespace}/default`, { id, type: "com.example.external" }),
        202,
      );
      const delivered = await eventually(() => subscriber.requests.find((r) => r.headers["ce-id"] === id), {
        timeoutMs: 30_000,
        message: "the event through the external topic",
      });
      assert.equal(delivered.headers["ce-type"], "com.example.external");

      // The record is in the named topic.
      const offsets = await admin.fetchTopicOffsets(topic);
      assert.equal(
        offsets.reduce((sum, partition) => sum + Number(partition.high) - Number(partition.low), 0),
        1,
      );

      assert.equal(await herald.delete(broker), 200);
      assert.ok((await admin.listTopics()).includes(topic), "the external topic is left after the Broker");
    } finally {
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    }
  });

  it("deleting one of two Brokers on the same external topic leaves the other delivering", async () => {
    const namespace = `shared-${randomUUID().slice(0, 6)}`;
    const topic = `herald-shared-${randomUUID().slice(0, 8)}`;
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic }] });
    const brokerOn = (name: string) => `apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: ${name}
  namespace: ${namespace}
  annotations:
    eventing.knative.dev/broker.class: Kafka
    kafka.eventing.knative.dev/external.topic: ${topic}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: ${name}-all, namespace: ${namespace} }
spec:
  broker: ${name}
  subscriber: { uri: "${subscriber.url}${name}" }
`;
    try {
      await herald.apply(`${brokerOn("first")}---\n${brokerOn("second")}`);
      for (const name of ["first", "second"])
        await eventually(
          async () =>
            (await readyOf(`/apis/eventing.knative.dev/v1/namespaces/${namespace}/triggers/${name}-all`))
              ?.status === "True",
          { timeoutMs: 30_000, message: `Trigger ${name}-all to be Ready` },
        );
      assert.equal(
        await herald.delete(`/apis/eventing.knative.dev/v1/namespaces/${namespace}/brokers/first`),
        200,
      );
      const id = `shared-${randomUUID()}`;
      assert.equal(await postEvent(`${herald.url}/brokers/${namespace}/second`, { id }), 202);
      await eventually(
        () => subscriber.requests.some((r) => r.url.endsWith("second") && r.headers["ce-id"] === id),
        { timeoutMs: 30_000, message: "the event through the Broker left on the shared topic" },
      );
    } finally {
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    }
  });

  it("is not Ready on a Broker of another class, naming the annotation", async () => {
    await herald.apply(`apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: memory-external
  annotations: { kafka.eventing.knative.dev/external.topic: orders }
`);
    const ready = await eventually(async () => {
      const found = await readyOf("/apis/eventing.knative.dev/v1/namespaces/default/brokers/memory-external");
      return found?.status === "False" && found;
    });
    assert.match(
      ready.message ?? "",
      /external\.topic\]: only a Broker of class Kafka runs on an external topic \(this one runs on a \w+Channel\)/,
    );
  });
});
