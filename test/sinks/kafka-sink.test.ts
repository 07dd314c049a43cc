// needs: kafka
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Kafka, logLevel, type Consumer, type KafkaMessage } from "kafkajs";
import { eventually } from "../support/eventually.js";
import { InProcessHerald, postEvent } from "../support/herald.js";

interface Status {
  address?: { url: string };
  conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
}

describe("KafkaSink", () => {
  const kafka = new Kafka({ brokers: ["127.0.0.1:9092"], logLevel: logLevel.NOTHING });
  let herald: InProcessHerald;
  const consumers: Consumer[] = [];

  before(async () => {
    herald = await InProcessHerald.start();
  });
  after(async () => {
    await herald.close();
    await Promise.all(consumers.map((consumer) => consumer.disconnect()));
  });

  /** Reads the topic from its beginning into `messages`. */
  async function consume(topic: string): Promise<KafkaMessage[]> {
    const messages: KafkaMessage[] = [];
    const consumer = kafka.consumer({ groupId: `kafkasink-test-${randomUUID()}` });
    consumers.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) => {
        messages.push(message);
        return Promise.resolve();
      },
    });
    return messages;
  }

  const sink = (name: string, topic: string, contentMode: string) => `
apiVersion: eventing.knative.dev/v1alpha1
kind: KafkaSink
metadata:
  name: ${name}
spec:
  topic: ${topic}
  bootstrapServers:
    - 127.0.0.1:9092
  numPartitions: 1
  replicationFactor: 1
  contentMode: ${contentMode}
`;
  const readyStatus = (name: string) =>
    eventually(
      async () => {
        const { status } = (
          await herald.get<{ status?: Status }>(
            `/apis/eventing.knative.dev/v1alpha1/namespaces/default/kafkasinks/${name}`,
          )
        ).body;
        return status?.conditions?.find((c) => c.type === "Ready")?.status === "True" && status;
      },
      { timeoutMs: 30_000 },
    );

  it("produces the events posted to it to its topic, in binary mode, with partitionkey as the key", async () => {
    const topic = `herald-kafkasink-binary-${randomUUID()}`;
    await herald.apply(sink("binary", topic, "binary"));
    const { address } = await readyStatus("binary");
    assert.match(address!.url, /\/sinks\/kafkasinks\/default\/binary$/);
    assert.equal(
      await postEvent(address!.url, {
        id: "k1",
        type: "dev.herald.kafka",
        data: '{"n":1}',
        extensions: { partitionkey: "p-1" },
      }),
      202,
    );
    const messages = await consume(topic);
    const message = await eventually(() => messages[0], { timeoutMs: 30_000 });
    assert.equal(message.key?.toString(), "p-1");
    assert.equal(message.headers?.ce_id?.toString(), "k1");
    assert.equal(message.headers?.ce_type?.toString(), "dev.herald.kafka");
    assert.equal(message.headers?.["content-type"]?.toString(), "application/json");
    assert.deepEqual(JSON.parse(message.value!.toString()), { n: 1 });
  });

  it("produces structured events when contentMode is structured, and is reachable from a Trigger", async () => {
    const topic = `herald-kafkasink-structured-${randomUUID()}`;
    await herald.apply(`${sink("structured", topic, "structured")}
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: default
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: to-kafka
spec:
  broker: default
  subscriber:
    ref:
      apiVersion: eventing.knative.dev/v1alpha1
      kind: KafkaSink
      name: structured
`);
    await readyStatus("structured");
    await eventually(async () => {
      const { body } = await herald.get<{ status?: Status }>(
        "/apis/eventing.knative.dev/v1/namespaces/default/triggers/to-kafka",
      );
      return body.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
    });
    assert.equal(
      await postEvent(`${herald.url}/brokers/default/default`, { id: "s1", data: '{"n":2}' }),
      202,
    );
    const messages = await consume(topic);
    const message = await eventually(() => messages[0], { timeoutMs: 30_000 });
    assert.match(message.headers?.["content-type"]?.toString() ?? "", /^application\/cloudevents\+json/);
    const event = JSON.parse(message.value!.toString()) as { id: string; specversion: string; data: unknown };
    assert.equal(event.id, "s1");
    assert.equal(event.specversion, "1.0");
    assert.deepEqual(event.data, { n: 2 });
  });

  it("is not Ready, saying why, when its topic does not exist and it may not create it", async () => {
    await herald.apply(`
apiVersion: eventing.knative.dev/v1alpha1
kind: KafkaSink
metadata:
  name: missing
spec:
  topic: herald-kafkasink-missing-${randomUUID()}
  bootstrapServers: [127.0.0.1:9092]
`);
    const ready = await eventually(
      async () => {
        const { status } = (
          await herald.get<{ status?: Status }>(
            "/apis/eventing.knative.dev/v1alpha1/namespaces/default/kafkasinks/missing",
          )
        ).body;
        const condition = status?.conditions?.find((c) => c.type === "Ready");
        return condition?.status === "False" && condition;
      },
      { timeoutMs: 30_000 },
    );
    assert.equal(ready.reason, "TopicNotPresentOrInvalid");
    assert.match(ready.message!, /does not exist; create it, or set numPartitions and replicationFactor/);
  });
});
