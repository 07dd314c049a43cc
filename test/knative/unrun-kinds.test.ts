import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { InProcessHerald } from "../support/herald.js";

/**
 * IntegrationSource and IntegrationSink (Apache Camel Kamelets) run their timer and log natively
 * and refuse their AWS variants at the field, naming the document and what to use instead, so
 * nothing of the file is applied; KafkaBinding (deprecated) is left aside with its reason.
 * Documents shaped as Knative's docs write them.
 */
const CHANNEL = `apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: kept-out, namespace: camel }
`;

const S3_SOURCE = `apiVersion: sources.knative.dev/v1alpha1
kind: IntegrationSource
metadata: { name: integration-source-aws-s3, namespace: camel }
spec:
  aws:
    s3: { arn: "arn:aws:s3:::my-bucket", region: eu-north-1 }
    auth: { secret: { ref: { name: my-secret } } }
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

  it("refuses a file with an AWS IntegrationSource at the field, naming the document and what to use instead", async () => {
    const instead =
      "(Knative runs an Apache Camel Kamelet for it): use a ContainerSource or ProcessSource running " +
      "a program that reads it and posts each event to K_SINK";
    assert.deepEqual(await refusalOf(`${CHANNEL}---\n${S3_SOURCE}`), [
      `request body[1].spec.aws.s3: Herald has no AWS s3 source ${instead}`,
    ]);
    assert.deepEqual(await refusalOf(SQS_SOURCE), [`spec.aws.sqs: Herald has no AWS sqs source ${instead}`]);
    // Nothing of the refused file was applied.
    const { status } = await herald.get("/apis/messaging.knative.dev/v1/namespaces/camel/channels/kept-out");
    assert.equal(status, 404);
  });

  it("refuses an AWS IntegrationSink at the field, saying what to use instead", async () => {
    assert.deepEqual(await refusalOf(SNS_SINK), [
      "spec.aws.sns: Herald has no AWS sns sink (Knative runs an Apache Camel Kamelet for it): " +
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
