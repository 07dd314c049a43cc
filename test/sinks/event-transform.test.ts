import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { InProcessHerald, postEvent } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

const CORPUS = join(
  import.meta.dirname,
  "../../../shared/knative-manifests/knative/docs/docs/versioned/eventing",
);
const corpus = (file: string) => readFileSync(join(CORPUS, file), "utf8");

interface Status {
  address?: { url: string };
  sinkUri?: string;
  conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
}

describe("EventTransform", () => {
  let herald: InProcessHerald;
  let display: Receiver;
  let processor: Receiver;

  before(async () => {
    herald = await InProcessHerald.start();
    display = await startReceiver();
    // A sink that answers every event with a reply event of its own.
    processor = await startReceiver((request) => ({
      status: 200,
      headers: {
        "ce-specversion": "1.0",
        "ce-id": `reply-${String(request.headers["ce-id"])}`,
        "ce-type": "processor.done",
        "ce-source": "/processor",
        "content-type": "application/json",
      },
      body: JSON.stringify({ ok: true }),
    }));
  });
  after(async () => {
    await herald.close();
    await Promise.all([display.close(), processor.close()]);
  });

  const statusOf = async (name: string) =>
    (
      await herald.get<{ status?: Status }>(
        `/apis/eventing.knative.dev/v1alpha1/namespaces/default/eventtransforms/${name}`,
      )
    ).body.status;
  const condition = (status: Status | undefined, type: string) =>
    status?.conditions?.find((c) => c.type === type);
  const readyStatus = (name: string) =>
    eventually(async () => {
      const status = await statusOf(name);
      return condition(status, "Ready")?.status === "True" && status;
    });

  it("transforms the events a Trigger sends it, and the reply goes back to the Broker (corpus simple-transform)", async () => {
    await herald.apply(`${corpus("transforms/event-transform-jsonata.md.block0.yaml")}
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: default
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: to-transform
spec:
  broker: default
  filter:
    attributes:
      type: order.created
  subscriber:
    ref:
      apiVersion: eventing.knative.dev/v1alpha1
      kind: EventTransform
      name: simple-transform
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: transformed-to-display
spec:
  broker: default
  filter:
    attributes:
      type: transformed.type
  subscriber:
    uri: ${display.url}
`);
    const status = await readyStatus("simple-transform");
    assert.match(status.address!.url, /\/sinks\/eventtransforms\/default\/simple-transform$/);
    await eventually(async () => {
      const trigger = await herald.get<{ status?: Status }>(
        "/apis/eventing.knative.dev/v1/namespaces/default/triggers/to-transform",
      );
      return condition(trigger.body.status, "Ready")?.status === "True";
    });
    assert.equal(
      await postEvent(`${herald.url}/brokers/default/default`, {
        id: "o-1",
        type: "order.created",
        data: JSON.stringify({ order: 7 }),
      }),
      202,
    );
    const received = await eventually(() => display.requests[0]);
    assert.equal(received.headers["ce-type"], "transformed.type");
    assert.equal(received.headers["ce-source"], "transform.simple");
    assert.equal(received.headers["ce-id"], "o-1");
    assert.deepEqual(JSON.parse(received.body.toString("utf8")), { order: 7 });
  });

  it("computes with JSONata functions (corpus order-processor)", async () => {
    await herald.apply(corpus("transforms/event-transform-jsonata.md.block3.yaml"));
    const { address } = await readyStatus("order-processor");
    const response = await fetch(address!.url, {
      method: "POST",
      headers: {
        "ce-specversion": "1.0",
        "ce-id": "order-1",
        "ce-type": "order.created",
        "ce-source": "/shop",
        "ce-time": "2025-01-01T00:00:00Z",
        "content-type": "application/json",
      },
      body: JSON.stringify({
        id: "A-1",
        customer: { id: "c-9", name: "Ada" },
        region: "eu",
        created: "2025-01-01",
        items: [
          { productId: "p1", name: "desk", quantity: 2, price: 400 },
          { productId: "p2", name: "lamp", quantity: 1, price: 300 },
        ],
      }),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("ce-type"), "order.processed");
    assert.equal(response.headers.get("ce-priority"), "high");
    assert.equal(response.headers.get("ce-orderid"), "A-1");
    const data = (await response.json()) as { total: number; items: Array<{ totalPrice: number }> };
    assert.equal(data.total, 1100);
    assert.deepEqual(
      data.items.map((item) => item.totalPrice),
      [800, 300],
    );
  });

  it("sends the transformed event to its sink and answers with the sink's reply, transformed by reply.jsonata", async () => {
    await herald.apply(`
apiVersion: eventing.knative.dev/v1alpha1
kind: EventTransform
metadata:
  name: request-reply
spec:
  sink:
    uri: ${processor.url}
  jsonata:
    expression: '$merge([$, {"type": "request.transformed"}])'
  reply:
    jsonata:
      expression: '$merge([$, {"type": "reply.transformed", "source": "transform.reply"}])'
`);
    const status = await readyStatus("request-reply");
    assert.equal(status.sinkUri, processor.url);
    const response = await fetch(status.address!.url, {
      method: "POST",
      headers: { "content-type": "application/cloudevents+json" },
      body: JSON.stringify({ specversion: "1.0", id: "r1", type: "request", source: "/t", data: { a: 1 } }),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("ce-type"), "reply.transformed");
    assert.equal(response.headers.get("ce-id"), "reply-r1");
    assert.equal(processor.requests.at(-1)!.headers["ce-type"], "request.transformed");
    assert.deepEqual(JSON.parse(processor.requests.at(-1)!.body.toString("utf8")), { a: 1 });
  });

  it("is not Ready, naming the field, when its expression is not JSONata (corpus event-transformer placeholder)", async () => {
    await herald.apply(`
apiVersion: eventing.knative.dev/v1alpha1
kind: EventTransform
metadata:
  name: placeholder
spec:
  jsonata:
    expression: |
      # transformation expression
`);
    const status = await eventually(async () => {
      const current = await statusOf("placeholder");
      return condition(current, "Ready")?.status === "False" && current;
    });
    assert.equal(condition(status, "Ready")!.reason, "JsonataExpressionInvalid");
    assert.match(
      condition(status, "Ready")!.message!,
      /spec\.jsonata\.expression is not a JSONata expression/,
    );
    assert.equal(status.address, undefined);
  });

  it("refuses a reply without a sink, and a transform without jsonata", async () => {
    const refused = await herald.applyRejected(`
apiVersion: eventing.knative.dev/v1alpha1
kind: EventTransform
metadata:
  name: bad
spec:
  reply:
    discard: true
`);
    assert.match(refused, /expected exactly one of: jsonata/);
    assert.match(refused, /spec\.reply: reply is set without spec\.sink/);
  });
});
