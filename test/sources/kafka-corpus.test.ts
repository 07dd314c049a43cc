// needs: kafka
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Kafka, logLevel } from "kafkajs";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/**
 * Knative's KafkaSource samples as published (the cluster's address and topic swapped for this
 * machine's): records reach the ksvc they name, through the service URL rule, with the dead-letter
 * settings of the delivery sample honoured.
 */
const KAFKA = process.env.KAFKA_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092";
const corpus = resolve(dirname(fileURLToPath(import.meta.url)), "../../../shared/knative-manifests");
const sample = (block: number) =>
  readFileSync(
    join(corpus, `knative/docs/docs/versioned/eventing/sources/kafka-source/README.md.block${block}.yaml`),
    "utf8",
  );

describe("KafkaSource samples", () => {
  let herald: InProcessHerald;
  let services: Receiver;
  const kafka = new Kafka({ clientId: "herald-test", brokers: [KAFKA], logLevel: logLevel.NOTHING });

  before(async () => {
    // event-display answers 503 to records with "fail", so the delivery sample's dead-letter sink is used.
    services = await startReceiver((request) => ({
      status: request.url === "/event-display" && request.body.toString().includes("fail") ? 503 : 202,
    }));
    herald = await InProcessHerald.start({ config: { serviceUrlTemplate: `${services.url}{name}` } });
  });
  after(async () => {
    await herald.close();
    await services.close();
  });

  it("the delivery sample: records reach event-display, and one it keeps refusing reaches example-sink", async () => {
    const topic = `knative-demo-topic-${randomUUID().slice(0, 8)}`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    await herald.apply(
      sample(4)
        .replace("my-cluster-kafka-bootstrap.kafka:9092", KAFKA)
        .replace("knative-demo-topic", topic)
        .replace("knative-group", `knative-group-${randomUUID().slice(0, 8)}`)
        .replace("<duration>", "PT0.05S")
        .replace("<policy-type>", "linear")
        .replace("<integer>", "2")
        .replace(/\n(\s+)consumerGroup:/, "\n$1initialOffset: earliest\n$1consumerGroup:"),
    );
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ value: "please fail" }, { value: "hello" }] });
    await producer.disconnect();
    await eventually(
      () => services.requests.some((r) => r.url === "/event-display" && r.body.toString() === "hello"),
      { timeoutMs: 60_000, message: "the second record at event-display" },
    );
    const refused = services.requests.filter(
      (r) => r.url === "/event-display" && r.body.toString() === "please fail",
    );
    assert.equal(refused.length, 3, "one attempt and two retries");
    const dead = services.requests.filter((r) => r.url === "/example-sink");
    assert.equal(dead.length, 1);
    assert.equal(dead[0]!.headers["ce-knativeerrorcode"], "503");
    assert.equal(dead[0]!.headers["ce-type"], "dev.knative.kafka.event");
  });
});
