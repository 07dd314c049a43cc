import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { InProcessHerald } from "../support/herald.js";

/**
 * IntegrationSource and IntegrationSink (Apache Camel Kamelets) refuse their file, naming the
 * document and what to use instead; KafkaBinding (deprecated) is left aside with its reason.
 * Documents shaped as Knative's docs write them.
 */
const CHANNEL = `apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: kept-out, namespace: camel }
`;

const TIMER_SOURCE = `apiVersion: sources.knative.dev/v1alpha1
kind: IntegrationSource
metadata: { name: integration-source-timer, namespace: camel }
spec:
  timer: { period: 2000, message: "Hello, Eventing Core" }
  sink: { ref: { apiVersion: eventing.knative.dev/v1, kind: Broker, name: default } }
`;

const SQS_SOURCE = `apiVersion: sources.knative.dev/v1alpha1
kind: IntegrationSource
metadata: { name: integration-source-aws-sqs, namespace: camel }
spec:
  aws:
    sqs: { arn: "arn:aws:s3:::my-queue", region: eu-north-1 }
    auth: { secret: { ref: { name: my-secret } } }
  sink: { ref: { apiVersion: eventing.knative.dev/v1, kind: Broker, name: default } }
`;

const LOG_SINK = `apiVersion: sinks.knative.dev/v1alpha1
kind: IntegrationSink
metadata: { name: integration-log-sink, namespace: camel }
spec:
  log: { showHeaders: true, level: INFO }
`;

const SNS_SINK = `apiVersion: sinks.knative.dev/v1alpha1
kind: IntegrationSink
metadata: { name: integration-sink-aws-sns, namespace: camel }
spec:
  aws:
    sns: { arn: my-topic, region: eu-north-1 }
`;

const KAFKA_BINDING = `apiVersion: sources.knative.dev/v1beta1
kind: KafkaBinding
metadata: { name: kafka-binding, namespace: camel }
spec:
  bootstrapServers: [127.0.0.1:9092]
`;

interface Refusal {
  details?: { problems?: { path: string; message: string }[] };
}

describe("Knative kinds Herald does not run", () => {
  let herald: InProcessHerald;
  before(async () => {
    herald = await InProcessHerald.start();
  });
  after(async () => {
    await herald.close();
  });

  const refusalOf = async (yaml: string) =>
    ((JSON.parse(await herald.applyRejected(yaml)) as Refusal).details?.problems ?? []).map(
      (problem) => `${problem.path}: ${problem.message}`,
    );

  it("refuses a file with an IntegrationSource, naming the document and what to use instead", async () => {
    assert.deepEqual(await refusalOf(`${CHANNEL}---\n${TIMER_SOURCE}`), [
      "request body[1].kind: Herald does not run IntegrationSource (Apache Camel Kamelets): for spec.timer " +
        "use a PingSource (spec.schedule as a cron schedule, spec.data as the message)",
    ]);
    assert.deepEqual(await refusalOf(SQS_SOURCE), [
      "kind: Herald does not run IntegrationSource (Apache Camel Kamelets) and has no AWS sqs " +
        "source: use a ContainerSource or ProcessSource running a program that reads it and posts each event to K_SINK",
    ]);
    // Nothing of the refused file was applied.
    const { status } = await herald.get("/apis/messaging.knative.dev/v1/namespaces/camel/channels/kept-out");
    assert.equal(status, 404);
  });

  it("refuses a file with an IntegrationSink, saying what to use instead", async () => {
    assert.deepEqual(await refusalOf(LOG_SINK), [
      "kind: Herald does not run IntegrationSink (Apache Camel Kamelets): for spec.log subscribe " +
        "an HTTP receiver that logs events (Knative's event_display) instead",
    ]);
    assert.deepEqual(await refusalOf(SNS_SINK), [
      "kind: Herald does not run IntegrationSink (Apache Camel Kamelets) and has no AWS sns sink: " +
        "use a JobSink running a program that writes the event to it",
    ]);
  });

  it("leaves a KafkaBinding aside with its reason and applies the rest of the file", async () => {
    const response = await fetch(`${herald.apiUrl}/apply`, {
      method: "POST",
      headers: { "content-type": "application/yaml" },
      body: `${CHANNEL}---\n${KAFKA_BINDING}`,
    });
    const body = (await response.json()) as {
      items?: { kind: string }[];
      leftAside?: { kind: string; reason: string }[];
    };
    assert.equal(response.status, 200, JSON.stringify(body));
    assert.deepEqual(
      body.items?.map((item) => item.kind),
      ["Channel"],
    );
    assert.deepEqual(
      body.leftAside?.map((note) => [note.kind, note.reason]),
      [
        [
          "KafkaBinding",
          "Herald does not run KafkaBinding (deprecated in Knative): it sets Kafka's servers in a workload, " +
            "which Herald does not run; give your program the servers itself, or use a KafkaSource or KafkaSink",
        ],
      ],
    );
  });
});
