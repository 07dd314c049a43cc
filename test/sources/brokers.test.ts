// needs: kafka, rabbitmq, pubsub, mqtt
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { PubSub } from "@google-cloud/pubsub";
import { connect as amqpConnect } from "amqplib";
import { Kafka, logLevel } from "kafkajs";
import { connectAsync } from "mqtt";
import { eventually } from "../support/eventually.js";
import { HeraldProcess } from "../support/herald.js";
import { MQTT_URL } from "../support/mqtt.js";
import { RABBITMQ_URL } from "../support/rabbitmq.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/**
 * The sources that read a real broker: Kafka, RabbitMQ, the Pub/Sub emulator and Mosquitto. Each
 * one: events reach a real HTTP sink with the right attributes and ceOverrides; a sink that refuses
 * for a while loses nothing (the source does not commit/ack before the sink accepted); delete stops
 * the worker; an unreachable broker shows in status.
 */
interface SourceStatus {
  status: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

const KAFKA = process.env.KAFKA_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092";
const PUBSUB_PROJECT = "herald";

describe("broker-backed sources", () => {
  let herald: HeraldProcess;
  const receivers: Receiver[] = [];
  const receiver = async (respond?: Receiver["respond"]) => {
    const started = await startReceiver(respond);
    receivers.push(started);
    return started;
  };
  /** Refuses each event id's first `refusals` attempts: a sink that is down for a while. */
  const flakyReceiver = (refusals: number) => {
    const attempts = new Map<string, number>();
    return receiver((request) => {
      const id = String(request.headers["ce-id"]);
      const n = (attempts.get(id) ?? 0) + 1;
      attempts.set(id, n);
      return { status: n <= refusals ? 503 : 202 };
    });
  };
  const waitReady = (path: string) =>
    eventually(
      async () => {
        const { body } = await herald.get<SourceStatus>(path);
        return body.status.conditions?.find((c) => c.type === "Ready")?.status === "True";
      },
      { timeoutMs: 60_000, message: `${path} to be Ready` },
    );
  const remove = async (path: string) => assert.equal(await herald.delete(path), 200);
  const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

  before(async () => {
    herald = await HeraldProcess.start();
  });
  after(async () => {
    await herald.close();
    await Promise.all(receivers.map((r) => r.close()));
  });

  describe("KafkaSource", () => {
    const kafka = new Kafka({ clientId: "herald-test", brokers: [KAFKA], logLevel: logLevel.NOTHING });
    const path = (name: string) =>
      `/apis/sources.knative.dev/v1beta1/namespaces/default/kafkasources/${name}`;

    it("wraps plain records as Knative does and forwards CloudEvent records, holding offsets while the sink is down", async () => {
      const topic = unique("herald-source");
      const group = unique("herald-source-group");
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
      const sink = await flakyReceiver(2);
      await herald.apply(`
apiVersion: sources.knative.dev/v1beta1
kind: KafkaSource
metadata: { name: orders }
spec:
  bootstrapServers: ["${KAFKA}"]
  topics: ["${topic}"]
  consumerGroup: ${group}
  initialOffset: earliest
  ceOverrides: { extensions: { origin: kafka } }
  sink: { uri: "${sink.url}" }
`);
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({
        topic,
        messages: [
          {
            key: "order-1",
            value: '{"total": 42}',
            headers: { "content-type": "application/json", trace: "abc" },
          },
          {
            value: "hello",
            headers: {
              ce_specversion: "1.0",
              ce_id: "ce-1",
              ce_type: "com.example.greeting",
              ce_source: "/greeter",
              "content-type": "text/plain",
            },
          },
          { value: "third" },
        ],
      });
      await producer.disconnect();
      await waitReady(path("orders"));
      // Two refusals each, then accepted: every record arrives, in partition order.
      const accepted = () => sink.requests.map((r) => String(r.headers["ce-id"]));
      await eventually(() => new Set(accepted()).size === 3 && sink.requests.length === 9, {
        timeoutMs: 60_000,
        message: "three records, each after two refusals",
      });
      assert.deepEqual([...new Set(accepted())], ["partition:0/offset:0", "ce-1", "partition:0/offset:2"]);
      const plain = sink.requests[0]!;
      assert.equal(plain.headers["ce-type"], "dev.knative.kafka.event");
      assert.equal(plain.headers["ce-source"], `/apis/v1/namespaces/default/kafkasources/orders#${topic}`);
      assert.equal(plain.headers["ce-subject"], "partition:0#0");
      assert.equal(plain.headers["ce-key"], "order-1");
      assert.equal(plain.headers["ce-kafkaheadertrace"], "abc");
      assert.equal(plain.headers["ce-origin"], "kafka");
      assert.equal(plain.headers["content-type"], "application/json");
      assert.equal(plain.body.toString(), '{"total": 42}');
      const forwarded = sink.requests.find((r) => r.headers["ce-id"] === "ce-1")!;
      assert.equal(forwarded.headers["ce-type"], "com.example.greeting");
      assert.equal(forwarded.headers["ce-source"], "/greeter");
      assert.equal(forwarded.body.toString(), "hello");
      // The group committed past every record only once the sink had accepted it.
      await eventually(
        async () => {
          const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
          return offsets?.partitions[0]?.offset === "3";
        },
        { timeoutMs: 30_000, message: "the committed offset to reach 3" },
      );

      await remove(path("orders"));
      await eventually(
        async () => {
          const { groups } = await admin.describeGroups([group]);
          return groups[0]?.members.length === 0;
        },
        { timeoutMs: 30_000, message: "the source's consumer to leave its group" },
      );
      await admin.deleteTopics({ topics: [topic] });
      await admin.disconnect();
    });

    it("shows an unreachable Kafka and a missing topic in status and rejects a bad spec", async () => {
      const sink = await receiver();
      await herald.apply(`
apiVersion: sources.knative.dev/v1beta1
kind: KafkaSource
metadata: { name: nowhere }
spec:
  bootstrapServers: ["127.0.0.1:1"]
  topics: [t]
  sink: { uri: "${sink.url}" }
`);
      await eventually(
        async () => {
          const { body } = await herald.get<SourceStatus>(path("nowhere"));
          const ready = body.status.conditions?.find((c) => c.type === "Ready");
          return ready?.status === "False" && ready.reason === "ConnectionFailed";
        },
        { timeoutMs: 60_000, message: "Ready=False with ConnectionFailed" },
      );
      await remove(path("nowhere"));

      // A topic that does not exist (this Kafka creates none on its own) is named as such, not as a
      // connection failure.
      const missing = `herald-missing-${randomUUID()}`;
      await herald.apply(`
apiVersion: sources.knative.dev/v1beta1
kind: KafkaSource
metadata: { name: no-topic }
spec:
  bootstrapServers: ["${KAFKA}"]
  topics: [${missing}]
  sink: { uri: "${sink.url}" }
`);
      const noTopic = await eventually(
        async () => {
          const { body } = await herald.get<SourceStatus>(path("no-topic"));
          const ready = body.status.conditions?.find((c) => c.type === "Ready");
          return ready?.status === "False" && ready.reason === "TopicNotPresent" && ready;
        },
        { timeoutMs: 60_000, message: "Ready=False with TopicNotPresent" },
      );
      assert.match(noTopic.message ?? "", new RegExp(`spec.topics: ${missing} must exist`));
      await remove(path("no-topic"));
      const text = await herald.applyRejected(`apiVersion: sources.knative.dev/v1beta1
kind: KafkaSource
metadata: { name: bad }
spec:
  bootstrapServers: ["no-port"]
  topics: []
  initialOffset: middle
  sink: { uri: "http://127.0.0.1:1/" }
`);
      for (const field of ["spec.bootstrapServers[0]", "spec.topics", "spec.initialOffset"]) {
        assert.ok(text.includes(field), field);
      }
    });
  });

  describe("RabbitmqSource", () => {
    const path = (name: string) =>
      `/apis/sources.knative.dev/v1alpha1/namespaces/default/rabbitmqsources/${name}`;

    it("consumes an exchange through its queue, acking only after the sink accepted", async () => {
      const exchange = unique("herald-test-exchange");
      const queue = unique("herald-test-source");
      const sink = await flakyReceiver(2);
      await herald.apply(`
apiVersion: v1
kind: Secret
metadata: { name: rabbitmq-connection }
data:
  uri: ${Buffer.from(RABBITMQ_URL).toString("base64")}
---
apiVersion: sources.knative.dev/v1alpha1
kind: RabbitmqSource
metadata: { name: jobs }
spec:
  rabbitmqClusterReference: { connectionSecret: { name: rabbitmq-connection } }
  rabbitmqResourcesConfig: { exchangeName: ${exchange}, queueName: ${queue}, parallelism: 1 }
  ceOverrides: { extensions: { origin: rabbitmq } }
  sink: { uri: "${sink.url}" }
`);
      await waitReady(path("jobs"));
      const connection = await amqpConnect(RABBITMQ_URL);
      const channel = await connection.createConfirmChannel();
      channel.publish(exchange, "", Buffer.from("job one"), { messageId: "m-1", contentType: "text/plain" });
      channel.publish(exchange, "", Buffer.from("{}"), {
        contentType: "application/json",
        headers: {
          cloudEvents_specversion: "1.0",
          cloudEvents_id: "ce-2",
          cloudEvents_type: "com.example.job",
          cloudEvents_source: "/jobs",
        },
      });
      await channel.waitForConfirms();
      await eventually(() => sink.requests.length === 6, {
        timeoutMs: 30_000,
        message: "two messages, each after two refusals",
      });
      assert.deepEqual([...new Set(sink.requests.map((r) => r.headers["ce-id"]))], ["m-1", "ce-2"]);
      const plain = sink.requests[0]!;
      assert.equal(plain.headers["ce-type"], "dev.knative.rabbitmq.event");
      assert.equal(plain.headers["ce-source"], `/apis/v1/namespaces/default/rabbitmqsources/jobs#${queue}`);
      assert.equal(plain.headers["ce-subject"], "m-1");
      assert.equal(plain.headers["ce-key"], "m-1");
      assert.equal(plain.headers["ce-origin"], "rabbitmq");
      assert.equal(plain.body.toString(), "job one");
      assert.equal(sink.requests[5]!.headers["ce-type"], "com.example.job");
      // Both acked: the queue is empty and still consumed.
      const check = await connection.createChannel();
      await eventually(async () => {
        const state = await check.checkQueue(queue);
        return state.messageCount === 0 && state.consumerCount === 1;
      });
      await remove(path("jobs"));
      // Deleted with the source: the queue it declared and the exchange it declared.
      check.on("error", () => undefined);
      await assert.rejects(check.checkQueue(queue), /NOT_FOUND/);
      const probe = await connection.createChannel();
      probe.on("error", () => undefined);
      await assert.rejects(probe.checkExchange(exchange), /NOT_FOUND/);
      await connection.close().catch(() => undefined);
    });

    it("rejects a bad spec naming the fields", async () => {
      const text = await herald.applyRejected(`apiVersion: sources.knative.dev/v1alpha1
kind: RabbitmqSource
metadata: { name: bad }
spec:
  rabbitmqResourcesConfig: { parallelism: 0, predeclared: "yes" }
  sink: { uri: "http://127.0.0.1:1/" }
`);
      for (const field of [
        "spec.rabbitmqResourcesConfig.parallelism",
        "spec.rabbitmqResourcesConfig.predeclared",
      ]) {
        assert.ok(text.includes(field), field);
      }
    });

    it("shows an unreachable RabbitMQ in status", async () => {
      const sink = await receiver();
      await herald.apply(`
apiVersion: v1
kind: Secret
metadata: { name: rabbitmq-nowhere }
data:
  uri: ${Buffer.from("amqp://guest:secret-password@127.0.0.1:1").toString("base64")}
---
apiVersion: sources.knative.dev/v1alpha1
kind: RabbitmqSource
metadata: { name: nowhere }
spec:
  rabbitmqClusterReference: { connectionSecret: { name: rabbitmq-nowhere } }
  sink: { uri: "${sink.url}" }
`);
      const ready = await eventually(async () => {
        const { body } = await herald.get<SourceStatus>(path("nowhere"));
        const condition = body.status.conditions?.find((c) => c.type === "Ready");
        return condition?.reason === "ConnectionFailed" && condition;
      });
      assert.equal(ready.status, "False");
      assert.doesNotMatch(JSON.stringify(ready), /secret-password/);
      await remove(path("nowhere"));
    });
  });

  describe("CloudPubSubSource", () => {
    const path = (name: string) =>
      `/apis/events.cloud.google.com/v1/namespaces/default/cloudpubsubsources/${name}`;

    it("emits Google's messagePublished events and deletes its subscription with the source", async () => {
      const client = new PubSub({
        projectId: PUBSUB_PROJECT,
        apiEndpoint: process.env.PUBSUB_EMULATOR_HOST,
        emulatorMode: true,
        credentials: { client_email: "test@emulator.invalid", private_key: "unused" },
      });
      const topicId = unique("herald-source-topic");
      const [topic] = await client.createTopic(topicId);
      const sink = await flakyReceiver(2);
      const applied = await herald.apply(`
apiVersion: events.cloud.google.com/v1
kind: CloudPubSubSource
metadata: { name: published }
spec:
  topic: ${topicId}
  ceOverrides: { extensions: { origin: pubsub } }
  sink: { uri: "${sink.url}" }
`);
      const uid = (applied[0] as unknown as { metadata: { uid: string } }).metadata.uid;
      await waitReady(path("published"));
      const messageId = await topic.publishMessage({
        data: Buffer.from("payload"),
        attributes: { color: "blue" },
      });
      await eventually(() => sink.requests.length === 3, {
        timeoutMs: 30_000,
        message: "the event after two refusals",
      });
      const event = sink.requests[2]!;
      assert.equal(event.headers["ce-id"], messageId);
      assert.equal(event.headers["ce-type"], "google.cloud.pubsub.topic.v1.messagePublished");
      assert.equal(
        event.headers["ce-source"],
        `//pubsub.googleapis.com/projects/${PUBSUB_PROJECT}/topics/${topicId}`,
      );
      assert.equal(event.headers["ce-origin"], "pubsub");
      assert.equal(event.headers["content-type"], "application/json");
      const subscription = `projects/${PUBSUB_PROJECT}/subscriptions/cre-src_default_published_${uid}`;
      const data = JSON.parse(event.body.toString()) as {
        subscription: string;
        message: { data: string; attributes: Record<string, string>; messageId: string; publishTime: string };
      };
      assert.equal(data.subscription, subscription);
      assert.equal(Buffer.from(data.message.data, "base64").toString(), "payload");
      assert.deepEqual(data.message.attributes, { color: "blue" });
      assert.equal(data.message.messageId, messageId);
      assert.equal(event.headers["ce-time"], data.message.publishTime);

      await remove(path("published"));
      await eventually(async () => !(await client.subscription(subscription).exists())[0], {
        message: "the source's subscription to be deleted",
      });

      // An existing subscription is consumed as it is, and kept when the source is deleted.
      const [existing] = await topic.createSubscription(unique("herald-existing"));
      const second = await receiver();
      await herald.apply(`
apiVersion: events.cloud.google.com/v1
kind: CloudPubSubSource
metadata: { name: existing }
spec:
  subscription: ${existing.name.split("/").pop()}
  sink: { uri: "${second.url}" }
`);
      await waitReady(path("existing"));
      const secondId = await topic.publishMessage({ data: Buffer.from("again") });
      const again = await eventually(() => second.requests[0], { timeoutMs: 30_000 });
      assert.equal(again.headers["ce-id"], secondId);
      assert.equal(
        again.headers["ce-source"],
        `//pubsub.googleapis.com/projects/${PUBSUB_PROJECT}/topics/${topicId}`,
      );
      await remove(path("existing"));
      assert.equal((await existing.exists())[0], true);
      await existing.delete();
      await topic.delete();
      await client.close();
    });
    it("shows a missing topic in status and rejects a bad spec", async () => {
      const sink = await receiver();
      await herald.apply(`
apiVersion: events.cloud.google.com/v1
kind: CloudPubSubSource
metadata: { name: no-topic }
spec:
  topic: ${unique("herald-missing-topic")}
  sink: { uri: "${sink.url}" }
`);
      await eventually(async () => {
        const { body } = await herald.get<SourceStatus>(path("no-topic"));
        const condition = body.status.conditions?.find((c) => c.type === "Ready");
        return condition?.status === "False" && condition.reason === "SubscribeFailed";
      });
      await remove(path("no-topic"));
      const text = await herald.applyRejected(`apiVersion: events.cloud.google.com/v1
kind: CloudPubSubSource
metadata: { name: bad }
spec:
  ackDeadline: soon
  sink: { uri: "http://127.0.0.1:1/" }
`);
      for (const field of ["spec.topic", "spec.ackDeadline"]) assert.ok(text.includes(field), field);
    });
  });

  describe("MqttSource", () => {
    const path = (name: string) => `/apis/sources.herald.dev/v1alpha1/namespaces/default/mqttsources/${name}`;
    const source = (name: string, sinkUrl: string, topic: string, url = MQTT_URL) => `
apiVersion: sources.herald.dev/v1alpha1
kind: MqttSource
metadata: { name: ${name} }
spec:
  url: ${url}
  topics: ["${topic}"]
  qos: 1
  ceOverrides: { extensions: { origin: mqtt } }
  sink: { uri: "${sinkUrl}" }
`;

    it("turns messages on wildcard topics into events, acknowledging after the sink accepted", async () => {
      const base = unique("herald/test");
      const sink = await flakyReceiver(2);
      await herald.apply(source("sensors", sink.url, `${base}/+/temperature`));
      await waitReady(path("sensors"));
      const client = await connectAsync(MQTT_URL, { protocolVersion: 5 });
      await client.publishAsync(`${base}/kitchen/temperature`, "21.5", {
        qos: 1,
        properties: { contentType: "text/plain" },
      });
      await client.publishAsync(`${base}/hall/temperature`, '{"c": 19}', {
        qos: 1,
        properties: {
          contentType: "application/json",
          userProperties: { specversion: "1.0", id: "ce-hall", type: "com.example.reading", source: "/hall" },
        },
      });
      await client.publishAsync(`${base}/kitchen/humidity`, "40", { qos: 1 });
      await eventually(() => sink.requests.length === 6, {
        timeoutMs: 30_000,
        message: "two messages, each after two refusals",
      });
      const plain = sink.requests[0]!;
      assert.equal(plain.headers["ce-type"], "dev.herald.mqtt.message");
      assert.equal(plain.headers["ce-subject"], `${base}/kitchen/temperature`);
      assert.equal(plain.headers["ce-source"], `${MQTT_URL}/${base}/kitchen/temperature`);
      assert.equal(plain.headers["ce-origin"], "mqtt");
      assert.equal(plain.headers["content-type"], "text/plain");
      assert.equal(plain.body.toString(), "21.5");
      // The same event is retried, not a new one per attempt.
      assert.equal(sink.requests[2]!.headers["ce-id"], plain.headers["ce-id"]);
      const binary = sink.requests[5]!;
      assert.equal(binary.headers["ce-id"], "ce-hall");
      assert.equal(binary.headers["ce-type"], "com.example.reading");

      // Deleted: later messages go to a second source only.
      await remove(path("sensors"));
      const second = await receiver();
      await herald.apply(source("sensors-2", second.url, `${base}/+/temperature`));
      await waitReady(path("sensors-2"));
      await client.publishAsync(`${base}/attic/temperature`, "30", { qos: 1 });
      await eventually(() => second.requests.length === 1);
      assert.equal(sink.requests.length, 6);
      await remove(path("sensors-2"));
      await client.endAsync();
    });

    it("shows an unreachable MQTT broker in status and rejects a bad spec", async () => {
      const sink = await receiver();
      await herald.apply(source("nowhere", sink.url, "x/#", "mqtt://127.0.0.1:1"));
      await eventually(async () => {
        const { body } = await herald.get<SourceStatus>(path("nowhere"));
        const condition = body.status.conditions?.find((c) => c.type === "Ready");
        return condition?.status === "False" && /ConnectionFailed|Offline/.test(condition.reason ?? "");
      });
      await remove(path("nowhere"));
      const text = await herald.applyRejected(`apiVersion: sources.herald.dev/v1alpha1
kind: MqttSource
metadata: { name: bad }
spec:
  url: "http://example.com"
  topics: []
  qos: 3
  sink: { uri: "http://127.0.0.1:1/" }
`);
      for (const field of ["spec.url", "spec.topics", "spec.qos"]) assert.ok(text.includes(field), field);
    });
  });
});
