// needs: kafka, rabbitmq
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { Kafka, logLevel } from "kafkajs";
import { eventually } from "../support/eventually.js";
import { InProcessHerald, postEvent } from "../support/herald.js";
import { RABBITMQ_URL } from "../support/rabbitmq.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/**
 * Brokers configured the Knative way, end to end on this machine's Kafka and RabbitMQ: `spec.config`
 * naming the Kafka broker's ConfigMap (its partitions reach the topic), ConfigMaps a Knative install
 * ships, an empty `config:`, and eventing-rabbitmq's RabbitmqBrokerConfig with its RabbitmqCluster,
 * applied from the published samples.
 */
interface Status {
  status: {
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    channel?: { kind: string };
  };
}

const KAFKA = process.env.KAFKA_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092";
const corpus = resolve(dirname(fileURLToPath(import.meta.url)), "../../../shared/knative-manifests");
const sample = (file: string) => readFileSync(join(corpus, file), "utf8");

describe("Broker spec.config the Knative way", () => {
  let herald: InProcessHerald;
  let services: Receiver;
  const brokerPath = (namespace: string, name: string) =>
    `/apis/eventing.knative.dev/v1/namespaces/${namespace}/brokers/${name}`;
  const readyBroker = (namespace: string, name: string) =>
    eventually(
      async () => {
        const { body } = await herald.get<Status>(brokerPath(namespace, name));
        return body.status.conditions?.find((c) => c.type === "Ready")?.status === "True" && body;
      },
      { timeoutMs: 30_000, message: `Broker ${namespace}/${name} to be Ready` },
    );
  const notReady = (namespace: string, name: string) =>
    eventually(async () => {
      const { body } = await herald.get<Status>(brokerPath(namespace, name));
      const ready = body.status.conditions?.find((c) => c.type === "Ready");
      return ready?.status === "False" && ready;
    });

  before(async () => {
    // Every Service a sample names answers at this receiver, under its name.
    services = await startReceiver();
    herald = await InProcessHerald.start({
      config: { rabbitmqUrl: RABBITMQ_URL, serviceUrlTemplate: `${services.url}{namespace}/{name}` },
      env: { HERALD_KAFKA_BOOTSTRAP_SERVERS: KAFKA },
    });
  });
  after(async () => {
    await herald.close();
    await services.close();
  });

  const partitionsOf = async (topic: string) => {
    const kafka = new Kafka({ clientId: "herald-test", brokers: [KAFKA], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
      return metadata.topics[0]!.partitions.length;
    } finally {
      await admin.disconnect();
    }
  };

  it("the Kafka broker's ConfigMap sets the topic's partitions, and events flow through a Kafka Broker", async () => {
    const namespace = `kafka-${randomUUID().slice(0, 6)}`;
    const subscriber = await startReceiver();
    try {
      await herald.apply(`
apiVersion: v1
kind: ConfigMap
metadata: { name: config-broker, namespace: ${namespace} }
data:
  bootstrap.servers: "${KAFKA}"
  default.topic.partitions: "3"
  default.topic.replication.factor: "1"
---
${sample("knative-extensions/eventing-kafka-broker/test/config/sacura/resources/101-broker.yaml").replace("namespace: sacura", `namespace: ${namespace}`)}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: all, namespace: ${namespace} }
spec:
  broker: broker
  subscriber: { uri: "${subscriber.url}" }
`);
      const broker = await readyBroker(namespace, "broker");
      assert.equal(broker.status.channel?.kind, "KafkaChannel");
      assert.equal(await partitionsOf(`knative-messaging-kafka.${namespace}.broker-kne-trigger`), 3);
      await eventually(
        async () => {
          const { body } = await herald.get<Status>(
            `/apis/eventing.knative.dev/v1/namespaces/${namespace}/triggers/all`,
          );
          return body.status.conditions?.find((c) => c.type === "Ready")?.status === "True";
        },
        { timeoutMs: 30_000, message: "the Trigger to be Ready" },
      );
      assert.equal(
        await postEvent(`${herald.url}/brokers/${namespace}/broker`, { id: "k-1", type: "com.example.k" }),
        202,
      );
      await eventually(() => subscriber.requests.some((r) => r.headers["ce-id"] === "k-1"), {
        timeoutMs: 30_000,
        message: "the event through the Kafka Broker",
      });
    } finally {
      await subscriber.close();
    }
  });

  it("a Kafka broker ConfigMap with a partition count that is not a number keeps the Broker not Ready, naming the key", async () => {
    await herald.apply(`
apiVersion: v1
kind: ConfigMap
metadata: { name: bad-kafka-config }
data: { default.topic.partitions: "many" }
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: bad-kafka, annotations: { eventing.knative.dev/broker.class: Kafka } }
spec:
  config: { apiVersion: v1, kind: ConfigMap, name: bad-kafka-config }
`);
    const ready = await notReady("default", "bad-kafka");
    assert.match(ready.message ?? "", /default\.topic\.partitions must be a positive integer, not "many"/);
  });

  it("a Kafka broker ConfigMap naming other Kafka servers, or keys Herald does not read, keeps the Broker not Ready", async () => {
    await herald.apply(`
apiVersion: v1
kind: ConfigMap
metadata: { name: other-kafka }
data: { bootstrap.servers: "my-cluster-kafka-bootstrap.kafka:9092", default.topic.partitions: "1" }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: authenticated-kafka }
data: { default.topic.partitions: "1", auth.secret.ref.name: kafka-auth }
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: other-kafka, annotations: { eventing.knative.dev/broker.class: Kafka } }
spec:
  config: { apiVersion: v1, kind: ConfigMap, name: other-kafka }
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: authenticated-kafka, annotations: { eventing.knative.dev/broker.class: Kafka } }
spec:
  config: { apiVersion: v1, kind: ConfigMap, name: authenticated-kafka }
`);
    const servers = await notReady("default", "other-kafka");
    assert.match(
      servers.message ?? "",
      new RegExp(
        `bootstrap.servers my-cluster-kafka-bootstrap.kafka:9092 is not the Kafka Herald runs Brokers on \\(HERALD_KAFKA_BOOTSTRAP_SERVERS=${KAFKA}\\)`,
      ),
    );
    const keys = await notReady("default", "authenticated-kafka");
    assert.match(keys.message ?? "", /auth\.secret\.ref\.name not supported/);
  });

  it("a Broker whose dead-letter sink does not resolve is not Ready; one that resolves shows it in deliveryStatus", async () => {
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: lost-dls }
spec:
  delivery: { deadLetterSink: { ref: { apiVersion: eventing.knative.dev/v1, kind: Broker, name: nowhere } } }
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: service-dls }
spec:
  delivery: { deadLetterSink: { ref: { apiVersion: v1, kind: Service, name: dlq } } }
`);
    const ready = await notReady("default", "lost-dls");
    assert.equal(ready.reason, "Unable to get the dead letter sink's URI");
    assert.match(ready.message ?? "", /spec\.delivery\.deadLetterSink: Broker default\/nowhere not found/);
    const resolved = (await readyBroker("default", "service-dls")) as unknown as {
      status: { deliveryStatus?: { deadLetterSinkUri?: string } };
    };
    assert.equal(resolved.status.deliveryStatus?.deadLetterSinkUri, `${services.url}default/dlq`);
  });

  it("ConfigMaps a Knative install ships resolve without being applied, and an empty config: is no config", async () => {
    // A namespace of its own, so the topic is this run's (one left by an earlier run keeps its partitions).
    const kafkaNamespace = `shipped-${randomUUID().slice(0, 6)}`;
    await herald.apply(`
${sample(
  "knative/docs/docs/versioned/eventing/brokers/broker-types/kafka-broker/README.md.block0.yaml",
).replace("namespace: default\n", `namespace: ${kafkaNamespace}\n`)}
---
${sample("knative/docs/docs/versioned/eventing/brokers/broker-developer-config-options.md.block0.yaml")
  .replace(/\n\s+uri: example-uri/, "")
  .replace("name: default\n", "name: channel-based\n")}
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: empty-config, namespace: other }
spec:
  config:
`);
    assert.equal((await readyBroker(kafkaNamespace, "default")).status.channel?.kind, "KafkaChannel");
    // knative-eventing/kafka-broker-config as Knative's Kafka broker ships it: 10 partitions.
    assert.equal(await partitionsOf(`knative-messaging-kafka.${kafkaNamespace}.default-kne-trigger`), 10);
    // config-br-default-channel: the default channel kind of this Herald.
    await readyBroker("default", "channel-based");
    await readyBroker("other", "empty-config");
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: unknown-config }
spec:
  config: { apiVersion: v1, kind: ConfigMap, name: not-shipped, namespace: knative-eventing }
`);
    const ready = await notReady("default", "unknown-config");
    assert.match(ready.message ?? "", /spec\.config: ConfigMap knative-eventing\/not-shipped not found/);
  });

  it("a Broker on an external Kafka topic that does not exist is not Ready (TopicNotPresentOrInvalid)", async () => {
    const topic = `herald-absent-${randomUUID().slice(0, 8)}`;
    await herald.apply(
      sample("knative/docs/docs/versioned/eventing/brokers/broker-types/kafka-broker/README.md.block4.yaml")
        .replace("<my-topic-name>", topic)
        .replace("name: default\n", "name: external\n"),
    );
    const ready = await notReady("default", "external");
    assert.equal(ready.reason, "TopicNotPresentOrInvalid");
    assert.match(ready.message ?? "", new RegExp(`topic ${topic} does not exist in Kafka`));
  });

  it("eventing-rabbitmq's quick-setup sample (RabbitmqCluster, RabbitmqBrokerConfig, Broker) runs on RabbitMQ", async () => {
    const base = "knative-extensions/eventing-rabbitmq/samples/quick-setup";
    const namespace = "quick-setup-sample";
    const broker = brokerPath(namespace, "default");
    await herald.apply(sample(`${base}/broker-files/100-broker-config.yaml`));
    await herald.apply(sample(`${base}/broker-files/200-broker.yaml`));
    // The RabbitmqCluster it names is not there yet: not Ready, saying what to apply.
    const waiting = await notReady(namespace, "default");
    assert.match(waiting.message ?? "", /RabbitmqCluster quick-setup-sample\/rabbitmq not found \(apply it/);
    await herald.apply(sample(`${base}/200-rabbitmq.yaml`));
    const ready = await readyBroker(namespace, "default");
    assert.equal(ready.status.channel?.kind, "RabbitmqChannel");
    const subscriber = await startReceiver();
    try {
      await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: all, namespace: ${namespace} }
spec:
  broker: default
  subscriber: { uri: "${subscriber.url}" }
`);
      await eventually(
        async () => {
          const { body } = await herald.get<Status>(
            `/apis/eventing.knative.dev/v1/namespaces/${namespace}/triggers/all`,
          );
          return body.status.conditions?.find((c) => c.type === "Ready")?.status === "True";
        },
        { timeoutMs: 30_000, message: "the Trigger to be Ready" },
      );
      assert.equal(await postEvent(`${herald.url}/brokers/${namespace}/default`, { id: "r-1" }), 202);
      await eventually(() => subscriber.requests.some((r) => r.headers["ce-id"] === "r-1"), {
        timeoutMs: 30_000,
        message: "the event through the RabbitMQ Broker",
      });
    } finally {
      await subscriber.close();
    }
    assert.equal((await herald.get(broker)).status, 200);
  });

  it("a RabbitmqBrokerConfig with a connectionSecret is refused with the reason, not run on another connection", async () => {
    const base = "knative-extensions/eventing-rabbitmq/samples/external-cluster/broker-files";
    await herald.apply(sample(`${base}/100-broker-config.yaml`));
    await herald.apply(sample(`${base}/200-broker.yaml`));
    const ready = await notReady("external-cluster-sample", "default");
    assert.match(
      ready.message ?? "",
      /connectionSecret: a Broker connects with Herald's RabbitMQ connection/,
    );
  });
});
