// needs: kafka
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import kafkajs, { Kafka, logLevel, type Admin } from "kafkajs";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/**
 * Strimzi's KafkaTopic, as Knative's Kafka pages apply it before a KafkaSource: declared on the real
 * Kafka with its partitions and configuration, grown but never shrunk, and deleted with the resource;
 * a KafkaSource applied in the same file reads the topic it created.
 */
const { ConfigResourceTypes } = kafkajs;
const KAFKA = process.env.KAFKA_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092";

interface Status {
  status: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

describe("KafkaTopic (kafka.strimzi.io)", () => {
  let herald: InProcessHerald;
  let sink: Receiver;
  let admin: Admin;
  const kafka = new Kafka({ clientId: "herald-test", brokers: [KAFKA], logLevel: logLevel.NOTHING });

  before(async () => {
    herald = await InProcessHerald.start({ env: { HERALD_KAFKA_BOOTSTRAP_SERVERS: KAFKA } });
    sink = await startReceiver();
    admin = kafka.admin();
    await admin.connect();
  });
  after(async () => {
    await admin?.disconnect();
    await sink?.close();
    await herald?.close();
  });

  const readyOf = async (path: string) =>
    (await herald.get<Status>(path)).body.status?.conditions?.find((c) => c.type === "Ready");
  const partitionsOf = async (topic: string) =>
    (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]!.partitions.length;

  const topicManifest = (
    name: string,
    partitions: number,
    retention: number,
  ) => `apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaTopic
metadata:
  name: ${name}
  labels: { strimzi.io/cluster: my-cluster }
spec:
  partitions: ${partitions}
  replicas: 1
  config: { retention.ms: ${retention} }
`;

  it("declares the topic with its partitions and config, grows it, refuses to shrink it, and deletes it", async () => {
    const name = `herald-kt-${randomUUID().slice(0, 8)}`;
    const path = `/apis/kafka.strimzi.io/v1beta2/namespaces/default/kafkatopics/${name}`;
    await herald.apply(topicManifest(name, 3, 7_200_000));
    await eventually(async () => (await readyOf(path))?.status === "True", {
      timeoutMs: 30_000,
      message: "the KafkaTopic to be Ready",
    });
    assert.equal(await partitionsOf(name), 3);
    const retention = async () => {
      const described = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name, configNames: ["retention.ms"] }],
      });
      return described.resources[0]!.configEntries.find((entry) => entry.configName === "retention.ms")
        ?.configValue;
    };
    assert.equal(await retention(), "7200000");

    await herald.apply(topicManifest(name, 5, 3_600_000));
    await eventually(async () => (await partitionsOf(name)) === 5 && (await retention()) === "3600000", {
      timeoutMs: 30_000,
      message: "the topic to grow to 5 partitions with the new retention",
    });

    await herald.apply(topicManifest(name, 2, 3_600_000));
    const shrink = await eventually(async () => {
      const ready = await readyOf(path);
      return ready?.status === "False" && ready;
    });
    assert.match(
      shrink.message ?? "",
      /spec\.partitions: .* has 5 partitions and Kafka cannot remove partitions/,
    );
    assert.equal(await partitionsOf(name), 5);

    await herald.delete(path);
    await eventually(async () => !(await admin.listTopics()).includes(name), {
      timeoutMs: 30_000,
      message: "the topic to be deleted with its KafkaTopic",
    });
  });

  it("runs a Knative KafkaSource page as written: the KafkaTopic first, then the source reading it", async () => {
    const topic = `herald-kt-demo-${randomUUID().slice(0, 8)}`;
    await herald.apply(`${topicManifest(topic, 3, 7_200_000)}---
apiVersion: sources.knative.dev/v1beta1
kind: KafkaSource
metadata: { name: kafka-source }
spec:
  consumerGroup: knative-group-${topic}
  bootstrapServers: ["${KAFKA}"]
  topics: [${topic}]
  initialOffset: earliest
  sink: { uri: "${sink.url}" }
`);
    const source = "/apis/sources.knative.dev/v1beta1/namespaces/default/kafkasources/kafka-source";
    await eventually(async () => (await readyOf(source))?.status === "True", {
      timeoutMs: 60_000,
      message: "the KafkaSource on the declared topic to be Ready",
    });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ key: "k", value: '{"msg":"hello from the topic"}' }] });
    await producer.disconnect();
    const received = await eventually(
      () => sink.requests.find((request) => request.body.toString().includes("hello from the topic")),
      { timeoutMs: 30_000, message: "the record to reach the sink" },
    );
    assert.equal(received.headers["ce-type"], "dev.knative.kafka.event");
    await herald.delete(source);
    await herald.delete(`/apis/kafka.strimzi.io/v1beta2/namespaces/default/kafkatopics/${topic}`);
  });
});
