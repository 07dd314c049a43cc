// needs: kafka, rabbitmq
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { connect as amqpConnect } from "amqplib";
import { Kafka, logLevel } from "kafkajs";
import { kafkaNetOptions } from "../../sources/kafka/index.js";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";
import { RABBITMQ_URL } from "../support/rabbitmq.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/**
 * Knative's `spec.delivery` and `spec.net` on the sources that read a broker: retries with the
 * DeliverySpec's backoff, then the dead-letter sink with Knative's error extensions, the input
 * moving on; TLS and SASL settings reaching the Kafka client; a deleted RabbitmqSource taking its
 * queue and exchange with it.
 */
interface Status {
  status: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

const KAFKA = process.env.KAFKA_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092";
const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

describe("source delivery and net settings", () => {
  let herald: InProcessHerald;
  const receivers: Receiver[] = [];
  const receiver = async (respond?: Receiver["respond"]) => {
    const started = await startReceiver(respond);
    receivers.push(started);
    return started;
  };
  const condition = async (path: string, type: string) => {
    const { body } = await herald.get<Status>(path);
    return body.status.conditions?.find((c) => c.type === type);
  };

  before(async () => {
    herald = await InProcessHerald.start({ config: { rabbitmqUrl: RABBITMQ_URL } });
  });
  after(async () => {
    await herald.close();
    await Promise.all(receivers.map((r) => r.close()));
  });

  it("KafkaSource retries as spec.delivery says, dead-letters with knativeerrorcode, and moves on", async () => {
    const kafka = new Kafka({ clientId: "herald-test", brokers: [KAFKA], logLevel: logLevel.NOTHING });
    const topic = unique("herald-delivery");
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const sink = await receiver((request) => ({
      status: request.body.toString() === "bad" ? 500 : 202,
      body: request.body.toString() === "bad" ? "cannot take it" : undefined,
    }));
    const deadLetters = await receiver();
    await herald.apply(`
apiVersion: sources.knative.dev/v1
kind: KafkaSource
metadata: { name: with-delivery }
spec:
  bootstrapServers: ["${KAFKA}"]
  topics: ["${topic}"]
  consumerGroup: ${unique("herald-delivery-group")}
  initialOffset: earliest
  delivery:
    retry: 2
    backoffPolicy: linear
    backoffDelay: PT0.05S
    deadLetterSink: { uri: "${deadLetters.url}" }
  sink: { uri: "${sink.url}" }
`);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ value: "bad" }, { value: "good" }] });
    await producer.disconnect();
    await eventually(() => sink.requests.some((r) => r.body.toString() === "good"), {
      timeoutMs: 60_000,
      message: "the record after the refused one to reach the sink",
    });
    // One attempt and two retries for the refused record, then the next record.
    assert.deepEqual(
      sink.requests.map((r) => r.body.toString()),
      ["bad", "bad", "bad", "good"],
    );
    await eventually(() => deadLetters.requests.length === 1, { message: "the dead letter" });
    const [dead] = deadLetters.requests;
    assert.equal(dead!.body.toString(), "bad");
    assert.equal(dead!.headers["ce-knativeerrorcode"], "500");
    assert.equal(dead!.headers["ce-knativeerrordest"], sink.url);
    assert.equal(
      Buffer.from(String(dead!.headers["ce-knativeerrordata"]), "base64").toString(),
      "cannot take it",
    );
    assert.equal(dead!.headers["ce-type"], "dev.knative.kafka.event");
  });

  it("KafkaSource consumers: that many partitions are delivered at once, each in order", async () => {
    const kafka = new Kafka({ clientId: "herald-test", brokers: [KAFKA], logLevel: logLevel.NOTHING });
    const topic = unique("herald-consumers");
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
    await admin.disconnect();
    let active = 0;
    let most = 0;
    const sink = await receiver(() => {
      active++;
      most = Math.max(most, active);
      setTimeout(() => active--, 200);
      return { status: 202, delayMs: 200 };
    });
    await herald.apply(`
apiVersion: sources.knative.dev/v1
kind: KafkaSource
metadata: { name: three-consumers }
spec:
  bootstrapServers: ["${KAFKA}"]
  topics: ["${topic}"]
  consumerGroup: ${unique("herald-consumers-group")}
  initialOffset: earliest
  consumers: 3
  sink: { uri: "${sink.url}" }
`);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: [0, 1, 2].flatMap((partition) =>
        [0, 1].map((n) => ({ partition, value: `${partition}-${n}` })),
      ),
    });
    await producer.disconnect();
    await eventually(() => sink.requests.length === 6, { timeoutMs: 60_000, message: "six records" });
    assert.ok(most > 1, `several partitions at once (at most ${most})`);
    for (const partition of [0, 1, 2]) {
      const order = sink.requests.map((r) => r.body.toString()).filter((v) => v.startsWith(`${partition}-`));
      assert.deepEqual(order, [`${partition}-0`, `${partition}-1`]);
    }
  });

  it("a source whose dead-letter sink does not resolve is not Ready and does not run", async () => {
    const sink = await receiver();
    await herald.apply(`
apiVersion: sources.knative.dev/v1
kind: KafkaSource
metadata: { name: missing-dls }
spec:
  bootstrapServers: ["${KAFKA}"]
  topics: ["${unique("herald-missing-dls")}"]
  delivery:
    deadLetterSink: { ref: { apiVersion: eventing.knative.dev/v1, kind: Broker, name: nowhere } }
  sink: { uri: "${sink.url}" }
`);
    const path = "/apis/sources.knative.dev/v1/namespaces/default/kafkasources/missing-dls";
    const ready = await eventually(async () => {
      const found = await condition(path, "Ready");
      return found?.status === "False" && found;
    });
    assert.match(ready.message ?? "", /spec\.delivery\.deadLetterSink: Broker default\/nowhere not found/);
  });

  it("KafkaSource spec.net maps onto the Kafka client's TLS and SASL settings from Secrets", () => {
    const secrets: Record<string, string> = {
      "kafka-secret/tls.crt": "CERT",
      "kafka-secret/tls.key": "KEY",
      "cacert/caroot.pem": "CA",
      "sasl/user": "alice",
      "sasl/password": "s3cret",
      "sasl/type": "SCRAM-SHA-512",
    };
    const secret = ({ name, key }: { name: string; key: string }) => {
      const value = secrets[`${name}/${key}`];
      if (value === undefined) throw new Error(`Secret default/${name} has no key ${key}`);
      return value;
    };
    const ref = (name: string, key: string) => ({ secretKeyRef: { name, key } });
    assert.deepEqual(
      kafkaNetOptions(
        {
          tls: {
            enable: true,
            cert: ref("kafka-secret", "tls.crt"),
            key: ref("kafka-secret", "tls.key"),
            caCert: ref("cacert", "caroot.pem"),
          },
          sasl: {
            enable: true,
            user: ref("sasl", "user"),
            password: ref("sasl", "password"),
            type: ref("sasl", "type"),
          },
        },
        secret,
      ),
      {
        ssl: { ca: "CA", cert: "CERT", key: "KEY" },
        sasl: { mechanism: "scram-sha-512", username: "alice", password: "s3cret" },
      },
    );
    assert.deepEqual(kafkaNetOptions({ tls: { enable: true } }, secret), { ssl: true });
    assert.deepEqual(kafkaNetOptions({ tls: { enable: false, cert: ref("x", "y") } }, secret), {});
    assert.throws(
      () => kafkaNetOptions({ sasl: { enable: true, user: ref("sasl", "nope") } }, secret),
      /spec\.net\.sasl\.user: Secret default\/sasl has no key nope/,
    );
    assert.throws(
      () =>
        kafkaNetOptions(
          {
            sasl: {
              enable: true,
              user: ref("sasl", "user"),
              password: ref("sasl", "password"),
              type: ref("sasl", "user"),
            },
          },
          secret,
        ),
      /spec\.net\.sasl\.type: ALICE is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512/,
    );
  });

  it("KafkaSource with net.tls against a plain-text broker is not Ready, and a missing Secret is named", async () => {
    const sink = await receiver();
    await herald.apply(`
apiVersion: v1
kind: Secret
metadata: { name: kafka-sasl }
stringData: { user: alice }
---
apiVersion: sources.knative.dev/v1
kind: KafkaSource
metadata: { name: tls-source }
spec:
  net: { tls: { enable: true } }
  bootstrapServers: ["${KAFKA}"]
  topics: ["${unique("herald-tls")}"]
  sink: { uri: "${sink.url}" }
---
apiVersion: sources.knative.dev/v1
kind: KafkaSource
metadata: { name: sasl-source }
spec:
  net:
    sasl:
      enable: true
      user: { secretKeyRef: { name: kafka-sasl, key: user } }
      password: { secretKeyRef: { name: kafka-sasl, key: password } }
  bootstrapServers: ["${KAFKA}"]
  topics: ["${unique("herald-sasl")}"]
  sink: { uri: "${sink.url}" }
`);
    const base = "/apis/sources.knative.dev/v1/namespaces/default/kafkasources";
    await eventually(async () => (await condition(`${base}/tls-source`, "Connected"))?.status === "False", {
      timeoutMs: 30_000,
      message: "the TLS source to fail to connect",
    });
    assert.equal((await condition(`${base}/tls-source`, "Ready"))?.status, "False");
    const deployed = await eventually(async () => {
      const found = await condition(`${base}/sasl-source`, "Deployed");
      return found?.status === "False" && found;
    });
    assert.match(
      deployed.message ?? "",
      /spec\.net\.sasl\.password: Secret default\/kafka-sasl has no key password/,
    );
  });

  it("RabbitmqSource with eventing-rabbitmq's quick-setup sample: not Ready until its RabbitmqCluster exists, then delivering", async () => {
    const base = "knative-extensions/eventing-rabbitmq/samples/quick-setup";
    const corpus = new URL("../../../shared/knative-manifests/", import.meta.url);
    const read = (file: string) => readFileSync(new URL(`${base}/${file}`, corpus), "utf8");
    const sink = await receiver();
    await herald.apply(
      read("source-files/200-source.yaml").replace(/sink:[\s\S]*$/, `sink: { uri: "${sink.url}" }\n`),
    );
    const path =
      "/apis/sources.knative.dev/v1alpha1/namespaces/quick-setup-sample/rabbitmqsources/rabbitmq-source";
    const waiting = await eventually(async () => {
      const found = await condition(path, "Ready");
      return found?.status === "False" && found;
    });
    assert.match(waiting.message ?? "", /RabbitmqCluster quick-setup-sample\/rabbitmq not found \(apply it/);
    await herald.apply(read("200-rabbitmq.yaml"));
    await eventually(async () => (await condition(path, "Ready"))?.status === "True", {
      timeoutMs: 30_000,
      message: "the source to be Ready once its RabbitmqCluster exists",
    });
    assert.equal(await herald.delete(path), 200);
  });

  it("RabbitmqSource dead-letters what the sink refuses for good, and deleting it removes its queue and exchange", async () => {
    const exchange = unique("herald-src-exchange");
    const queue = unique("herald-src-queue");
    const sink = await receiver(() => ({ status: 400 }));
    const deadLetters = await receiver();
    await herald.apply(`
apiVersion: sources.knative.dev/v1alpha1
kind: RabbitmqSource
metadata: { name: refusing }
spec:
  rabbitmqResourcesConfig: { exchangeName: ${exchange}, queueName: ${queue} }
  delivery:
    retry: 3
    backoffDelay: PT0.05S
    deadLetterSink: { uri: "${deadLetters.url}" }
  sink: { uri: "${sink.url}" }
`);
    const path = "/apis/sources.knative.dev/v1alpha1/namespaces/default/rabbitmqsources/refusing";
    await eventually(async () => (await condition(path, "Ready"))?.status === "True", {
      timeoutMs: 30_000,
      message: "the RabbitmqSource to be Ready",
    });
    const connection = await amqpConnect(RABBITMQ_URL);
    try {
      const channel = await connection.createChannel();
      channel.publish(exchange, "", Buffer.from('{"n":1}'), { messageId: "m-1" });
      await eventually(() => deadLetters.requests.length === 1, { message: "the dead letter" });
      // 400 is final: one attempt, no retries.
      assert.equal(sink.requests.length, 1);
      assert.equal(deadLetters.requests[0]!.headers["ce-knativeerrorcode"], "400");
      assert.equal(deadLetters.requests[0]!.headers["ce-id"], "m-1");
      // Acked once dead-lettered: nothing is left in the queue.
      assert.equal((await channel.checkQueue(queue)).messageCount, 0);
      await channel.close();

      assert.equal(await herald.delete(path), 200);
      await eventually(
        async () => {
          const probe = await connection.createChannel();
          probe.on("error", () => undefined);
          const exists = await probe.checkQueue(queue).then(
            () => true,
            () => false,
          );
          if (exists) await probe.close();
          return !exists;
        },
        { message: "the queue to be deleted" },
      );
      const probe = await connection.createChannel();
      probe.on("error", () => undefined);
      await assert.rejects(probe.checkExchange(exchange), /NOT_FOUND/);
    } finally {
      await connection.close().catch(() => undefined);
    }
  });
});
