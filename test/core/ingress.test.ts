import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

const manifests = (subscriber: string) => `
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: orders }
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: orders-sub }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: orders }
  subscriber: { uri: "${subscriber}" }
`;

describe("ingress (CloudEvents HTTP binding)", () => {
  let herald: InProcessHerald;
  let receiver: Receiver;
  let url: string;

  before(async () => {
    receiver = await startReceiver();
    herald = await InProcessHerald.start({ config: { maxBodyBytes: 2048 } });
    await herald.apply(manifests(receiver.url));
    url = herald.channelUrl("orders");
  });
  after(async () => {
    await herald.close();
    await receiver.close();
  });

  const received = (id: string) => receiver.requests.find((r) => r.headers["ce-id"] === id);

  it("accepts a binary-mode event with 202 and delivers it in binary mode", async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: {
        "ce-specversion": "1.0",
        "ce-id": "b-1",
        "ce-type": "order.created",
        "ce-source": "/shop",
        "ce-tenant": "acme%20corp",
        "content-type": "application/json",
      },
      body: JSON.stringify({ total: 3 }),
    });
    assert.equal(response.status, 202);
    const request = await eventually(() => received("b-1"));
    assert.equal(request.headers["ce-type"], "order.created");
    assert.equal(request.headers["ce-tenant"], "acme%20corp");
    assert.equal(request.headers["content-type"], "application/json");
    assert.equal(request.headers.prefer, "reply");
    assert.deepEqual(JSON.parse(request.body.toString()), { total: 3 });
  });

  it("accepts a structured-mode event", async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/cloudevents+json; charset=utf-8" },
      body: JSON.stringify({ specversion: "1.0", id: "s-1", type: "t", source: "/s", data: { a: 1 } }),
    });
    assert.equal(response.status, 202);
    const request = await eventually(() => received("s-1"));
    assert.deepEqual(JSON.parse(request.body.toString()), { a: 1 });
  });

  it("accepts a batch and delivers each event", async () => {
    const batch = [1, 2, 3].map((n) => ({
      specversion: "1.0",
      id: `batch-${n}`,
      type: "t",
      source: "/s",
      data: n,
    }));
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/cloudevents-batch+json" },
      body: JSON.stringify(batch),
    });
    assert.equal(response.status, 202);
    await eventually(() => received("batch-1") && received("batch-2") && received("batch-3"));
  });

  it("rejects a batch with one bad event as a whole, naming the event and attribute", async () => {
    const batch = [
      { specversion: "1.0", id: "bad-batch-1", type: "t", source: "/s" },
      { specversion: "1.0", id: "bad-batch-2", source: "/s" },
    ];
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/cloudevents-batch+json" },
      body: JSON.stringify(batch),
    });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { code: string; message: string };
    assert.equal(body.code, "InvalidEvent");
    assert.match(JSON.stringify(body), /type/);
    // Nothing of the rejected batch was published: send a marker and check the first event never came.
    assert.equal(
      await fetch(url, {
        method: "POST",
        headers: { "ce-specversion": "1.0", "ce-id": "marker", "ce-type": "t", "ce-source": "/s" },
      }).then((r) => r.status),
      202,
    );
    await eventually(() => received("marker"));
    assert.equal(received("bad-batch-1"), undefined);
  });

  it("answers 400 naming the missing required attribute", async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "ce-specversion": "1.0", "ce-id": "x", "ce-type": "t" },
    });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { details: { problems: { attribute: string }[] } };
    assert.ok(
      body.details.problems.some((p) => p.attribute === "source"),
      JSON.stringify(body),
    );
  });

  it("answers 400 for a wrong specversion", async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "ce-specversion": "0.3", "ce-id": "x", "ce-type": "t", "ce-source": "/s" },
    });
    assert.equal(response.status, 400);
    assert.match(await response.text(), /specversion/);
  });

  it("answers 404 for an unknown channel", async () => {
    const response = await fetch(herald.channelUrl("nope"), {
      method: "POST",
      headers: { "ce-specversion": "1.0" },
    });
    assert.equal(response.status, 404);
    assert.match(await response.text(), /nope/);
  });

  it("answers 405 with Allow for other methods", async () => {
    const response = await fetch(url, { method: "PUT" });
    assert.equal(response.status, 405);
    assert.match(response.headers.get("allow") ?? "", /POST/);
  });

  it("answers 413 above the configured body limit", async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: {
        "ce-specversion": "1.0",
        "ce-id": "big",
        "ce-type": "t",
        "ce-source": "/s",
        "content-type": "text/plain",
      },
      body: "x".repeat(4096),
    });
    assert.equal(response.status, 413);
  });

  it("answers 415 for an unsupported structured format", async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/cloudevents+xml" },
      body: "<event/>",
    });
    assert.equal(response.status, 415);
  });

  it("answers the webhook abuse-protection handshake", async () => {
    const response = await fetch(url, {
      method: "OPTIONS",
      headers: { "webhook-request-origin": "eventemitter.example.com" },
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("webhook-allowed-origin"), "eventemitter.example.com");
    assert.match(response.headers.get("allow") ?? "", /POST/);
  });

  it("reports the address in the channel status", async () => {
    const { body } = await herald.get<{ status: { address: { url: string } } }>(
      "/apis/messaging.knative.dev/v1/namespaces/default/channels/orders",
    );
    assert.equal(body.status.address.url, url);
  });
});
