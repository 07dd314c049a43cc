// needs: rabbitmq
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { connect as amqpConnect, type ChannelModel } from "amqplib";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";
import { RABBITMQ_URL } from "../support/rabbitmq.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/**
 * rabbitmq.com Queue, Exchange and Binding (the messaging topology operator's kinds), shaped as
 * eventing-rabbitmq's predeclared-setup sample applies them, declared on the real RabbitMQ, consumed
 * by a RabbitmqSource with `predeclared: true`, and removed from RabbitMQ when deleted.
 */
const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;
const TOPOLOGY = "/apis/rabbitmq.com/v1beta1/namespaces";

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

function predeclared(namespace: string, queue: string, exchange: string, sinkUrl: string): string {
  return `apiVersion: rabbitmq.com/v1beta1
kind: RabbitmqCluster
metadata: { name: rabbitmq, namespace: ${namespace} }
spec: { replicas: 1 }
---
apiVersion: rabbitmq.com/v1beta1
kind: Queue
metadata: { name: source-queue, namespace: ${namespace} }
spec:
  name: ${queue}
  autoDelete: false
  durable: true
  rabbitmqClusterReference: { name: rabbitmq }
---
apiVersion: rabbitmq.com/v1beta1
kind: Exchange
metadata: { name: source-exchange, namespace: ${namespace} }
spec:
  name: ${exchange}
  type: fanout
  autoDelete: false
  durable: true
  rabbitmqClusterReference: { name: rabbitmq }
---
apiVersion: rabbitmq.com/v1beta1
kind: Binding
metadata: { name: binding, namespace: ${namespace} }
spec:
  source: ${exchange}
  destination: ${queue}
  destinationType: queue
  rabbitmqClusterReference: { name: rabbitmq }
---
apiVersion: sources.knative.dev/v1alpha1
kind: RabbitmqSource
metadata: { name: rabbitmq-source, namespace: ${namespace} }
spec:
  rabbitmqClusterReference: { name: rabbitmq, namespace: ${namespace} }
  rabbitmqResourcesConfig:
    predeclared: true
    exchangeName: "${exchange}"
    queueName: ${queue}
  delivery: { retry: 5, backoffPolicy: linear, backoffDelay: PT1S }
  sink: { uri: "${sinkUrl}" }
`;
}

describe("RabbitMQ Queue, Exchange and Binding", () => {
  let herald: InProcessHerald;
  let receiver: Receiver;
  let amqp: ChannelModel;

  before(async () => {
    herald = await InProcessHerald.start({ env: { HERALD_RABBITMQ_URL: RABBITMQ_URL } });
    receiver = await startReceiver();
    amqp = await amqpConnect(RABBITMQ_URL);
    amqp.on("error", () => undefined);
  });
  after(async () => {
    await amqp?.close();
    await receiver?.close();
    await herald?.close();
  });

  const readyOf = async (path: string): Promise<Condition | undefined> => {
    const { body } = await herald.get<{ status?: { conditions?: Condition[] } }>(path);
    return body.status?.conditions?.find((condition) => condition.type === "Ready");
  };
  const waitReady = (path: string, status: "True" | "False") =>
    eventually(
      async () => {
        const ready = await readyOf(path);
        return ready?.status === status && ready;
      },
      { timeoutMs: 30_000, message: `${path} Ready ${status}` },
    );
  /** Whether RabbitMQ has the queue or exchange now (a failed check closes only its own channel). */
  const exists = async (check: "checkQueue" | "checkExchange", name: string) => {
    const channel = await amqp.createChannel();
    channel.on("error", () => undefined);
    try {
      await channel[check](name);
      await channel.close();
      return true;
    } catch {
      return false;
    }
  };

  it("declares the predeclared-setup sample's topology, and a predeclared RabbitmqSource delivers what is published to the exchange", async () => {
    const namespace = unique("predeclared");
    const queue = unique("herald-topology-queue");
    const exchange = unique("herald-topology-exchange");
    await herald.apply(predeclared(namespace, queue, exchange, receiver.url));
    const at = `${TOPOLOGY}/${namespace}`;
    for (const path of [
      `${at}/queues/source-queue`,
      `${at}/exchanges/source-exchange`,
      `${at}/bindings/binding`,
    ])
      assert.equal((await waitReady(path, "True")).reason, "SuccessfulCreateOrUpdate");
    assert.ok(await exists("checkQueue", queue));
    assert.ok(await exists("checkExchange", exchange));
    await eventually(
      async () =>
        (
          await readyOf(
            `/apis/sources.knative.dev/v1alpha1/namespaces/${namespace}/rabbitmqsources/rabbitmq-source`,
          )
        )?.status === "True",
      { timeoutMs: 30_000, message: "the RabbitmqSource to be Ready" },
    );

    const channel = await amqp.createConfirmChannel();
    channel.publish(exchange, "", Buffer.from('{"order":42}'), {
      messageId: "order-42",
      contentType: "application/json",
    });
    await channel.waitForConfirms();
    await channel.close();
    const delivered = await eventually(
      () => receiver.requests.find((r) => r.headers["ce-id"] === "order-42"),
      {
        message: "the event published to the exchange at the receiver",
      },
    );
    assert.equal(delivered.headers["ce-type"], "dev.knative.rabbitmq.event");
    assert.equal(delivered.body.toString(), '{"order":42}');

    // Deleting the source leaves the predeclared queue; deleting the topology removes it from RabbitMQ.
    assert.equal(
      await herald.delete(
        `/apis/sources.knative.dev/v1alpha1/namespaces/${namespace}/rabbitmqsources/rabbitmq-source`,
      ),
      200,
    );
    assert.ok(await exists("checkQueue", queue));
    // Without the Binding, what is published to the exchange no longer reaches the queue.
    assert.equal(await herald.delete(`${at}/bindings/binding`), 200);
    const unbound = await amqp.createConfirmChannel();
    unbound.publish(exchange, "", Buffer.from('{"order":43}'), { messageId: "order-43" });
    await unbound.waitForConfirms();
    assert.equal((await unbound.checkQueue(queue)).messageCount, 0);
    await unbound.close();
    for (const path of [`${at}/queues/source-queue`, `${at}/exchanges/source-exchange`])
      assert.equal(await herald.delete(path), 200);
    await eventually(
      async () => !(await exists("checkQueue", queue)) && !(await exists("checkExchange", exchange)),
      {
        message: "the queue and exchange to be deleted from RabbitMQ",
      },
    );
  });

  it("is not Ready with the broker's error, or until the RabbitmqCluster it names exists", async () => {
    const namespace = unique("topology-errors");
    const at = `${TOPOLOGY}/${namespace}`;
    await herald.apply(`apiVersion: rabbitmq.com/v1beta1
kind: Queue
metadata: { name: waiting, namespace: ${namespace} }
spec:
  name: ${unique("herald-topology-waiting")}
  rabbitmqClusterReference: { name: rabbitmq }
---
apiVersion: rabbitmq.com/v1beta1
kind: Binding
metadata: { name: dangling, namespace: ${namespace} }
spec:
  source: ${unique("herald-no-such-exchange")}
  destination: ${unique("herald-no-such-queue")}
  destinationType: queue
  rabbitmqClusterReference: { name: rabbitmq, namespace: ${namespace} }
`);
    const waiting = await waitReady(`${at}/queues/waiting`, "False");
    assert.equal(waiting.reason, "FailedCreateOrUpdate");
    assert.match(
      waiting.message ?? "",
      new RegExp(`RabbitmqCluster ${namespace}/rabbitmq not found \\(apply it`),
    );
    await herald.apply(`apiVersion: rabbitmq.com/v1beta1
kind: RabbitmqCluster
metadata: { name: rabbitmq, namespace: ${namespace} }
`);
    await waitReady(`${at}/queues/waiting`, "True");
    const dangling = await eventually(
      async () => {
        const ready = await readyOf(`${at}/bindings/dangling`);
        return ready?.status === "False" && /NOT_FOUND/.test(ready.message ?? "") && ready;
      },
      { timeoutMs: 30_000, message: "the Binding to say RabbitMQ has no such exchange" },
    );
    assert.equal(dangling.reason, "FailedCreateOrUpdate");
  });

  it("keeps a Queue with deletionPolicy retain in RabbitMQ when the resource is deleted", async () => {
    const namespace = unique("topology-retain");
    const queue = unique("herald-topology-retained");
    await herald.apply(`apiVersion: rabbitmq.com/v1beta1
kind: RabbitmqCluster
metadata: { name: rabbitmq, namespace: ${namespace} }
---
apiVersion: rabbitmq.com/v1beta1
kind: Queue
metadata: { name: kept, namespace: ${namespace} }
spec:
  name: ${queue}
  type: quorum
  deletionPolicy: retain
  rabbitmqClusterReference: { name: rabbitmq }
`);
    const path = `${TOPOLOGY}/${namespace}/queues/kept`;
    await waitReady(path, "True");
    // A delete answers once a reconcile pass ran without the resource: the queue stays.
    assert.equal(await herald.delete(path), 200);
    assert.ok(await exists("checkQueue", queue));
    const channel = await amqp.createChannel();
    await channel.deleteQueue(queue);
    await channel.close();
  });

  it("deletes a Queue from RabbitMQ also when its RabbitmqCluster was deleted first", async () => {
    const namespace = unique("topology-order");
    const queue = unique("herald-topology-orphan");
    await herald.apply(`apiVersion: rabbitmq.com/v1beta1
kind: RabbitmqCluster
metadata: { name: rabbitmq, namespace: ${namespace} }
---
apiVersion: rabbitmq.com/v1beta1
kind: Queue
metadata: { name: q, namespace: ${namespace} }
spec: { name: ${queue}, rabbitmqClusterReference: { name: rabbitmq } }
`);
    await waitReady(`${TOPOLOGY}/${namespace}/queues/q`, "True");
    assert.equal(await herald.delete(`${TOPOLOGY}/${namespace}/rabbitmqclusters/rabbitmq`), 200);
    assert.equal(await herald.delete(`${TOPOLOGY}/${namespace}/queues/q`), 200);
    assert.equal(await exists("checkQueue", queue), false);
  });

  it("refuses unknown fields, invalid values and changes to immutable fields, naming each field", async () => {
    const namespace = unique("topology-invalid");
    const refused = await herald.applyRejected(`apiVersion: rabbitmq.com/v1beta1
kind: Queue
metadata: { name: q, namespace: ${namespace} }
spec:
  name: q
  type: lazy
  durabel: true
  rabbitmqClusterReference: { name: rabbitmq }
---
apiVersion: rabbitmq.com/v1beta1
kind: Binding
metadata: { name: b, namespace: ${namespace} }
spec:
  source: x
  destinationType: topic
  rabbitmqClusterReference: {}
`);
    assert.match(refused, /\[0\]\.spec\.type: must be one of \\"quorum\\", \\"classic\\", \\"stream\\"/);
    assert.match(refused, /\[0\]\.spec\.durabel: unknown field/);
    assert.match(refused, /\[1\]\.spec\.destination: is required/);
    assert.match(refused, /\[1\]\.spec\.destinationType: must be one of \\"queue\\", \\"exchange\\"/);
    assert.match(refused, /\[1\]\.spec\.rabbitmqClusterReference: needs name or connectionSecret, not both/);

    const exchange = (type: string) => `apiVersion: rabbitmq.com/v1beta1
kind: Exchange
metadata: { name: e, namespace: ${namespace} }
spec: { name: ${unique("herald-topology-immutable")}, type: ${type}, rabbitmqClusterReference: { name: rabbitmq } }
`;
    await herald.apply(exchange("topic"));
    const changed = await herald.applyRejected(
      exchange("topic").replace(/name: herald-[^,]+/, "name: other"),
    );
    assert.match(changed, /spec\.name: is immutable/);
    assert.equal(await herald.delete(`${TOPOLOGY}/${namespace}/exchanges/e`), 200);
  });
});
