// needs: kafka
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Kafka, logLevel } from "kafkajs";
import { kafkaConfig } from "../../adapters/kafka/config.js";
import { ConfigError, loadConfig, sliceOf } from "../../src/config.js";
import { defaultPlugins } from "../../src/default-plugins.js";
import { configSlicesOf } from "../../src/plugins.js";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/**
 * HERALD_KAFKA_BOOTSTRAP_ALIASES maps the Kafka address Knative's docs write
 * (`my-cluster-kafka-bootstrap.kafka:9092`, a Kubernetes install's) to this machine's Kafka, so a
 * KafkaSource or KafkaSink applied unchanged uses it; without the alias, the source's Ready reason
 * names the setting.
 */
const KAFKA = process.env.KAFKA_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092";
const DOCS_ADDRESS = "my-cluster-kafka-bootstrap.kafka:9092";
const slices = configSlicesOf(defaultPlugins);

interface Status {
  status: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

const kafkaSource = (name: string, topic: string, sink: string) => `
apiVersion: sources.knative.dev/v1
kind: KafkaSource
metadata: { name: ${name} }
spec:
  consumerGroup: ${name}
  initialOffset: earliest
  bootstrapServers: [${DOCS_ADDRESS}]
  topics: [${topic}]
  sink: { uri: "${sink}" }
`;

describe("Kafka bootstrap aliases", () => {
  it("reads from=to pairs, and refuses a pair that is not host:port=host:port, naming the variable", () => {
    const config = loadConfig(
      {},
      { HERALD_KAFKA_BOOTSTRAP_ALIASES: `${DOCS_ADDRESS}=${KAFKA}, a:1=b:2` },
      slices,
    );
    assert.deepEqual(sliceOf(config, kafkaConfig).bootstrapAliases, { [DOCS_ADDRESS]: KAFKA, "a:1": "b:2" });
    assert.throws(
      () => loadConfig({}, { HERALD_KAFKA_BOOTSTRAP_ALIASES: "my-cluster=127.0.0.1:9092" }, slices),
      (error: unknown) =>
        error instanceof ConfigError &&
        /HERALD_KAFKA_BOOTSTRAP_ALIASES|kafka\.bootstrapAliases/.test(error.message) &&
        /host:port/.test(error.message),
    );
  });

  describe("a KafkaSource naming the docs' address", () => {
    let aliased: InProcessHerald;
    let plain: InProcessHerald;
    let sink: Receiver;
    const kafka = new Kafka({ clientId: "herald-test", brokers: [KAFKA], logLevel: logLevel.NOTHING });
    const sourcePath = (name: string) =>
      `/apis/sources.knative.dev/v1/namespaces/default/kafkasources/${name}`;

    before(async () => {
      sink = await startReceiver();
      aliased = await InProcessHerald.start({
        env: { HERALD_KAFKA_BOOTSTRAP_ALIASES: `${DOCS_ADDRESS}=${KAFKA}` },
      });
      plain = await InProcessHerald.start();
    });
    after(async () => {
      await aliased.close();
      await plain.close();
      await sink.close();
    });

    it("reads this machine's Kafka when the alias maps it", async () => {
      const topic = `alias-${randomUUID().slice(0, 8)}`;
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
      await admin.disconnect();
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic, messages: [{ value: JSON.stringify({ hello: "alias" }) }] });
      await producer.disconnect();
      await aliased.apply(kafkaSource("aliased", topic, sink.url));
      await eventually(() => sink.requests.some((r) => r.body.toString().includes("alias")), {
        timeoutMs: 30_000,
        message: "the record through the aliased address",
      });
    });

    it("a KafkaSink naming the docs' address is Ready, with its topic created on this machine's Kafka", async () => {
      const topic = `alias-sink-${randomUUID().slice(0, 8)}`;
      await aliased.apply(`
apiVersion: eventing.knative.dev/v1alpha1
kind: KafkaSink
metadata: { name: aliased-sink }
spec:
  topic: ${topic}
  bootstrapServers: [${DOCS_ADDRESS}]
  numPartitions: 1
  replicationFactor: 1
`);
      const path = "/apis/eventing.knative.dev/v1alpha1/namespaces/default/kafkasinks/aliased-sink";
      await eventually(
        async () => {
          const { body } = await aliased.get<Status>(path);
          return body.status.conditions?.find((c) => c.type === "Ready")?.status === "True";
        },
        { timeoutMs: 30_000, message: "the KafkaSink to be Ready" },
      );
      const admin = kafka.admin();
      await admin.connect();
      try {
        assert.ok(
          (await admin.listTopics()).includes(topic),
          "the topic was created on this machine's Kafka",
        );
      } finally {
        await admin.disconnect();
      }
    });

    it("a Kafka Broker whose ConfigMap names the docs' address runs on this machine's Kafka; without the alias it is not Ready", async () => {
      const manifest = `
apiVersion: v1
kind: ConfigMap
metadata: { name: docs-kafka }
data: { bootstrap.servers: "${DOCS_ADDRESS}", default.topic.partitions: "1", default.topic.replication.factor: "1" }
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: docs-kafka, annotations: { eventing.knative.dev/broker.class: Kafka } }
spec:
  config: { apiVersion: v1, kind: ConfigMap, name: docs-kafka }
`;
      const path = "/apis/eventing.knative.dev/v1/namespaces/default/brokers/docs-kafka";
      const readyOf = async (herald: InProcessHerald) =>
        (await herald.get<Status>(path)).body.status.conditions?.find((c) => c.type === "Ready");
      await aliased.apply(manifest);
      await eventually(async () => (await readyOf(aliased))?.status === "True", {
        timeoutMs: 30_000,
        message: "the Broker on the aliased address to be Ready",
      });
      await plain.apply(manifest);
      const refused = await eventually(async () => {
        const ready = await readyOf(plain);
        return ready?.status === "False" && ready;
      });
      assert.match(
        refused.message ?? "",
        /bootstrap\.servers my-cluster-kafka-bootstrap\.kafka:9092 is not the Kafka/,
      );
      assert.match(refused.message ?? "", /HERALD_KAFKA_BOOTSTRAP_ALIASES/);
      await aliased.delete(path);
      await plain.delete(path);
    });

    it("without the alias, the source is not Ready and the reason names HERALD_KAFKA_BOOTSTRAP_ALIASES", async () => {
      await plain.apply(kafkaSource("unaliased", "any-topic", sink.url));
      const ready = await eventually(
        async () => {
          const { body } = await plain.get<Status>(sourcePath("unaliased"));
          const condition = body.status.conditions?.find((c) => c.type === "Ready");
          return condition?.status === "False" && /ALIASES/.test(condition.message ?? "") && condition;
        },
        { timeoutMs: 60_000, message: "the source's reason to name the alias setting" },
      );
      assert.match(
        ready.message ?? "",
        /HERALD_KAFKA_BOOTSTRAP_ALIASES=my-cluster-kafka-bootstrap\.kafka:9092=host:port/,
      );
    });
  });
});
