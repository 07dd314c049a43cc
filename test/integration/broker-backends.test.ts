// needs: kafka, rabbitmq, pubsub, nats
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { HeraldProcess, postEvent } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/**
 * A Broker on each channel backend, chosen the two ways Knative manifests choose it: the broker class
 * annotation and a `spec.config` ConfigMap with `channel-template-spec`. The same Triggers must
 * filter, and a reply must re-enter the broker through the backend and match another Trigger.
 */
interface Backend {
  name: string;
  /** The Broker's metadata.annotations or spec.config, and any ConfigMap it needs. */
  brokerClass?: string;
  channelTemplate?: string;
  /** The backing channel's collection in the resource API. */
  channelPath: string;
}

const backends: Backend[] = [
  {
    name: "kafka",
    brokerClass: "Kafka",
    channelPath: "messaging.knative.dev/v1beta1/namespaces/default/kafkachannels",
  },
  {
    name: "rabbitmq",
    brokerClass: "RabbitMQBroker",
    channelPath: "messaging.herald.dev/v1alpha1/namespaces/default/rabbitmqchannels",
  },
  {
    name: "pubsub",
    channelTemplate: "apiVersion: messaging.herald.dev/v1alpha1\\nkind: PubSubChannel\\n",
    channelPath: "messaging.herald.dev/v1alpha1/namespaces/default/pubsubchannels",
  },
  {
    name: "nats",
    brokerClass: "NatsJetStreamBroker",
    channelPath: "messaging.knative.dev/v1alpha1/namespaces/default/natsjetstreamchannels",
  },
];

interface Stored {
  status: {
    address?: { url: string };
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

const isReady = (body: Stored) => body.status.conditions?.find((c) => c.type === "Ready")?.status === "True";

function manifests(backend: Backend, broker: string, processor: string, audit: string, sql: string): string {
  const brokerManifest = backend.brokerClass
    ? `apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: ${broker}
  annotations: { eventing.knative.dev/broker.class: ${backend.brokerClass} }
`
    : `apiVersion: v1
kind: ConfigMap
metadata: { name: ${broker}-config }
data:
  channel-template-spec: "${backend.channelTemplate}"
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: ${broker} }
spec:
  config: { apiVersion: v1, kind: ConfigMap, name: ${broker}-config }
`;
  const trigger = (name: string, subscriber: string, filter: string) => `
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: ${broker}-${name} }
spec:
  broker: ${broker}
${filter}
  subscriber: { uri: "${subscriber}" }
`;
  return [
    brokerManifest,
    trigger("processor", processor, "  filter: { attributes: { type: order.placed } }"),
    trigger("audit", audit, "  filter: { attributes: { type: order.processed } }"),
    trigger("large", sql, "  filters:\n    - cesql: \"type = 'payment' AND INT(amount) >= 1000\""),
  ].join("---\n");
}

for (const backend of backends) {
  describe(`Broker on ${backend.name}`, () => {
    let herald: HeraldProcess;
    const receivers: Receiver[] = [];
    const broker = `broker-${backend.name}`;

    before(async () => {
      herald = await HeraldProcess.start();
    });
    after(async () => {
      await herald.close();
      await Promise.all(receivers.map((r) => r.close()));
    });

    it("runs on its backing channel, filters, and sends replies back through the backend", async () => {
      const processor = await startReceiver(() => ({
        status: 200,
        headers: {
          "ce-specversion": "1.0",
          "ce-id": "reply-1",
          "ce-type": "order.processed",
          "ce-source": "/processor",
        },
      }));
      const audit = await startReceiver();
      const large = await startReceiver();
      receivers.push(processor, audit, large);
      await herald.apply(manifests(backend, broker, processor.url, audit.url, large.url));

      const brokerPath = `/apis/eventing.knative.dev/v1/namespaces/default/brokers/${broker}`;
      await eventually(async () => isReady((await herald.get<Stored>(brokerPath)).body), {
        message: `Broker ${broker} to be Ready`,
      });
      for (const name of ["processor", "audit", "large"]) {
        const path = `/apis/eventing.knative.dev/v1/namespaces/default/triggers/${broker}-${name}`;
        await eventually(async () => isReady((await herald.get<Stored>(path)).body), {
          message: `Trigger ${broker}-${name} to be Ready`,
        });
      }
      const channel = await herald.get<Stored>(`/apis/${backend.channelPath}/${broker}-kne-trigger`);
      assert.equal(channel.status, 200, "the broker's backing channel is of the backend's kind");
      assert.ok(isReady(channel.body));

      const url = `${herald.url}/brokers/default/${broker}`;
      assert.equal(await postEvent(url, { id: "order-1", type: "order.placed" }), 202);
      assert.equal(await postEvent(url, { id: "small", type: "payment", extensions: { amount: "5" } }), 202);
      assert.equal(await postEvent(url, { id: "big", type: "payment", extensions: { amount: "2500" } }), 202);

      const reply = await eventually(() => audit.requests[0], {
        timeoutMs: 60_000,
        message: "the reply at audit",
      });
      assert.equal(reply.headers["ce-id"], "reply-1");
      assert.equal(reply.headers["ce-knativebrokerttl"], "254");
      await eventually(() => large.requests.length >= 1, { timeoutMs: 60_000, message: "the large payment" });
      assert.deepEqual(
        processor.requests.map((r) => r.headers["ce-id"]),
        ["order-1"],
      );
      assert.deepEqual(
        large.requests.map((r) => r.headers["ce-id"]),
        ["big"],
      );
    });

    it("removes its backing channel when the Broker is deleted", async () => {
      const response = await fetch(
        `${herald.url}/apis/eventing.knative.dev/v1/namespaces/default/brokers/${broker}`,
        { method: "DELETE" },
      );
      assert.equal(response.status, 200);
      await eventually(
        async () => (await herald.get(`/apis/${backend.channelPath}/${broker}-kne-trigger`)).status === 404,
        { message: "the backing channel to be deleted" },
      );
    });
  });
}
