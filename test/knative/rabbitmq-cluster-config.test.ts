// needs: rabbitmq
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { InProcessHerald, postEvent } from "../support/herald.js";
import { RABBITMQ_URL } from "../support/rabbitmq.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/**
 * A Broker whose `spec.config` names a RabbitmqCluster itself, as eventing-rabbitmq's
 * multiple-namespaces sample writes it (the older form eventing-rabbitmq still serves, with classic
 * queues): Ready on Herald's RabbitMQ once that RabbitmqCluster exists, delivering through it.
 */
interface Status {
  status: {
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    channel?: { kind: string };
  };
}

describe("Broker spec.config naming a RabbitmqCluster", () => {
  let herald: InProcessHerald;
  let subscriber: Receiver;
  // The queues outlive a run on the shared RabbitMQ: a Broker name of this run's own.
  const broker = `ping-${randomUUID().slice(0, 8)}`;
  const brokerPath = `/apis/eventing.knative.dev/v1/namespaces/ping/brokers/${broker}`;
  const readyOf = async (path: string) => {
    const { body } = await herald.get<Status>(path);
    return { body, ready: body.status.conditions?.find((c) => c.type === "Ready") };
  };

  before(async () => {
    subscriber = await startReceiver();
    herald = await InProcessHerald.start({ config: { rabbitmqUrl: RABBITMQ_URL } });
  });
  after(async () => {
    await herald.close();
    await subscriber.close();
  });

  it("is not Ready until the RabbitmqCluster exists, then runs on a RabbitmqChannel and delivers", async () => {
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: ${broker}
  namespace: ping
  annotations: { eventing.knative.dev/broker.class: RabbitMQBroker }
spec:
  config: { apiVersion: rabbitmq.com/v1beta1, kind: RabbitmqCluster, name: rabbitmq, namespace: knative-eventing }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: all, namespace: ping }
spec:
  broker: ${broker}
  subscriber: { uri: "${subscriber.url}" }
`);
    const waiting = await eventually(async () => {
      const { ready } = await readyOf(brokerPath);
      return ready?.status === "False" && ready;
    });
    assert.match(
      waiting.message ?? "",
      /spec\.config: RabbitmqCluster knative-eventing\/rabbitmq not found \(apply it/,
    );

    await herald.apply(`
apiVersion: rabbitmq.com/v1beta1
kind: RabbitmqCluster
metadata:
  name: rabbitmq
  namespace: knative-eventing
  annotations: { rabbitmq.com/topology-allowed-namespaces: "*" }
spec: { replicas: 1 }
`);
    const { body } = await eventually(
      async () => {
        const state = await readyOf(brokerPath);
        return state.ready?.status === "True" && state;
      },
      { timeoutMs: 30_000, message: "the Broker to be Ready" },
    );
    assert.equal(body.status.channel?.kind, "RabbitmqChannel");
    await eventually(
      async () =>
        (await readyOf("/apis/eventing.knative.dev/v1/namespaces/ping/triggers/all")).ready?.status ===
        "True",
      { timeoutMs: 30_000, message: "the Trigger to be Ready" },
    );
    assert.equal(
      await postEvent(`${herald.url}/brokers/ping/${broker}`, { id: "c-1", type: "com.example.c" }),
      202,
    );
    await eventually(() => subscriber.requests.some((r) => r.headers["ce-id"] === "c-1"), {
      timeoutMs: 30_000,
      message: "the event through the RabbitMQ Broker",
    });
  });
});
