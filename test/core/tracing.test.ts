import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { InProcessHerald, postEvent } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/** The spans an OTLP/HTTP JSON export carries, flattened. */
interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: { key: string; value: Record<string, unknown> }[];
}

function spansOf(receiver: Receiver): ExportedSpan[] {
  return receiver.requests.flatMap((request) => {
    const body = JSON.parse(request.body.toString()) as {
      resourceSpans: { scopeSpans: { spans: ExportedSpan[] }[] }[];
    };
    return body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
  });
}

const manifests = (subscriber: string) => `
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: traced }
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: traced-sub }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: traced }
  subscriber: { uri: "${subscriber}" }
`;

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN = "00f067aa0ba902b7";
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_SPAN}-01`;

async function postTraced(url: string, id: string): Promise<number> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "ce-specversion": "1.0",
      "ce-id": id,
      "ce-type": "dev.herald.test",
      "ce-source": "/test",
      traceparent: TRACEPARENT,
    },
  });
  return response.status;
}

describe("tracing", () => {
  let collector: Receiver;
  let subscriber: Receiver;
  let herald: InProcessHerald;

  before(async () => {
    collector = await startReceiver(() => ({
      status: 200,
      headers: { "content-type": "application/json" },
      body: "{}",
    }));
    subscriber = await startReceiver();
    herald = await InProcessHerald.start({ env: { HERALD_TRACING_ENDPOINT: `${collector.url}v1/traces` } });
    await herald.apply(manifests(subscriber.url));
  });
  after(async () => {
    await herald.close();
    await Promise.all([collector.close(), subscriber.close()]);
  });

  it("exports an ingress span under the caller's trace and a delivery span under it, and propagates traceparent", async () => {
    await eventually(async () => (await postTraced(herald.channelUrl("traced"), "t-1")) === 202);
    const delivered = await eventually(() => subscriber.requests.find((r) => r.headers["ce-id"] === "t-1"));
    const spans = await eventually(
      () => {
        const all = spansOf(collector);
        const ingress = all.find((s) => s.name === "herald.ingress");
        const deliver = all.find((s) => s.name === "herald.deliver");
        return ingress && deliver && { ingress, deliver };
      },
      { timeoutMs: 15_000, message: "both spans exported" },
    );
    assert.equal(spans.ingress.traceId, TRACE_ID);
    assert.equal(spans.ingress.parentSpanId, PARENT_SPAN);
    assert.equal(spans.deliver.traceId, TRACE_ID);
    assert.equal(spans.deliver.parentSpanId, spans.ingress.spanId);
    // The event carries the ingress span; the delivery request carries the delivery span.
    assert.equal(delivered.headers["ce-traceparent"], `00-${TRACE_ID}-${spans.ingress.spanId}-01`);
    assert.equal(delivered.headers.traceparent, `00-${TRACE_ID}-${spans.deliver.spanId}-01`);
    const attribute = (span: ExportedSpan, key: string) => span.attributes.find((a) => a.key === key)?.value;
    assert.deepEqual(attribute(spans.ingress, "messaging.destination.name"), {
      stringValue: "channels/default/traced",
    });
    assert.deepEqual(attribute(spans.deliver, "http.response.status_code"), { intValue: 202 });
  });

  it("continues the trace in a reply that re-enters a Broker", async () => {
    const processor = await startReceiver(() => ({
      status: 200,
      headers: {
        "ce-specversion": "1.0",
        "ce-id": "reply-1",
        "ce-type": "order.processed",
        "ce-source": "/p",
      },
    }));
    const audit = await startReceiver();
    try {
      await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: traced }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: processor }
spec:
  broker: traced
  filter: { attributes: { type: dev.herald.test } }
  subscriber: { uri: "${processor.url}" }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: audit }
spec:
  broker: traced
  filter: { attributes: { type: order.processed } }
  subscriber: { uri: "${audit.url}" }
`);
      await eventually(async () => (await postTraced(`${herald.url}/brokers/default/traced`, "t-4")) === 202);
      const reply = await eventually(() => audit.requests[0], { message: "the reply at audit" });
      assert.equal(reply.headers["ce-id"], "reply-1");
      assert.match(String(reply.headers["ce-traceparent"]), new RegExp(`^00-${TRACE_ID}-`));
      assert.match(String(reply.headers.traceparent), new RegExp(`^00-${TRACE_ID}-`));
    } finally {
      await Promise.all([processor.close(), audit.close()]);
    }
  });

  it("without an endpoint, carries the incoming traceparent over to the event", async () => {
    const plain = await InProcessHerald.start();
    try {
      await plain.apply(manifests(subscriber.url));
      await eventually(async () => (await postTraced(plain.channelUrl("traced"), "t-2")) === 202);
      const delivered = await eventually(() => subscriber.requests.find((r) => r.headers["ce-id"] === "t-2"));
      assert.equal(delivered.headers["ce-traceparent"], TRACEPARENT);
      // And an event without it is left as it came.
      assert.equal(await postEvent(plain.channelUrl("traced"), { id: "t-3" }), 202);
      const untouched = await eventually(() => subscriber.requests.find((r) => r.headers["ce-id"] === "t-3"));
      assert.equal(untouched.headers["ce-traceparent"], undefined);
    } finally {
      await plain.close();
    }
  });
});
