import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { InProcessHerald, postEvent } from "../support/herald.js";
import { startReplier, type Receiver } from "../support/receiver.js";

/** A subscriber that answers every event with a new one: a loop once its replies come back. */
function replying(): Promise<Receiver> {
  return startReplier({ type: "loop", source: "/loop", body: "again" });
}

interface Stored {
  status: { conditions?: { type: string; status: string }[] };
}

describe("reply loops end at Knative's hop limit", () => {
  let herald: InProcessHerald;
  const receivers: Receiver[] = [];
  before(async () => {
    herald = await InProcessHerald.start({ config: { logLevel: "error" } });
  });
  after(async () => {
    await herald.close();
    await Promise.all(receivers.map((r) => r.close()));
  });

  async function ready(path: string): Promise<void> {
    await eventually(async () => {
      const { body } = await herald.get<Stored>(path);
      return body.status.conditions?.find((c) => c.type === "Ready")?.status === "True";
    });
  }

  async function hopLimitDrops(name: string): Promise<number> {
    const metrics = await (await fetch(`${herald.url}/metrics`)).text();
    const line = new RegExp(
      `herald_events_dropped_total\\{namespace="default",name="${name}",reason="reply-hop-limit"\\} (\\d+)`,
    ).exec(metrics);
    return line ? Number(line[1]) : 0;
  }

  /** A Subscription whose replies go back into its own Channel. */
  async function channelLoop(name: string): Promise<Receiver> {
    const subscriber = await replying();
    receivers.push(subscriber);
    await herald.apply(`
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: ${name} }
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: ${name}-sub }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: ${name} }
  subscriber: { uri: "${subscriber.url}" }
  reply: { ref: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: ${name} } }
`);
    await ready(`/apis/messaging.knative.dev/v1/namespaces/default/subscriptions/${name}-sub`);
    return subscriber;
  }

  it("a Subscription replying into its own Channel: 255 deliveries, then the reply is dropped and counted", async () => {
    const subscriber = await channelLoop("loop");
    assert.equal(await postEvent(herald.channelUrl("loop"), { id: "l0" }), 202);
    await eventually(async () => (await hopLimitDrops("loop-sub")) === 1, { timeoutMs: 30_000 });
    // Once the reply was dropped, nothing of the loop is left in flight.
    assert.equal(subscriber.requests.length, 255);
    assert.equal(subscriber.requests[0]!.headers["ce-knativebrokerttl"], undefined);
    assert.equal(subscriber.requests[1]!.headers["ce-knativebrokerttl"], "254");
    assert.equal(subscriber.requests[254]!.headers["ce-knativebrokerttl"], "1");
  });

  it("a client's large TTL on a Channel is lowered to 255", async () => {
    const subscriber = await channelLoop("loop-client");
    assert.equal(
      await postEvent(herald.channelUrl("loop-client"), {
        id: "c0",
        extensions: { knativebrokerttl: "2147483647" },
      }),
      202,
    );
    await eventually(async () => (await hopLimitDrops("loop-client-sub")) === 1, { timeoutMs: 30_000 });
    assert.equal(subscriber.requests.length, 255);
    assert.equal(subscriber.requests[0]!.headers["ce-knativebrokerttl"], "255");
  });

  it("a client's large or unreadable TTL on a Broker is lowered to 255", async () => {
    const subscriber = await replying();
    receivers.push(subscriber);
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: ttl }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: ttl-loop }
spec:
  broker: ttl
  subscriber: { uri: "${subscriber.url}" }
`);
    await ready("/apis/eventing.knative.dev/v1/namespaces/default/triggers/ttl-loop");
    const url = `${herald.url}/brokers/default/ttl`;
    assert.equal(await postEvent(url, { id: "b0", extensions: { knativebrokerttl: "2147483647" } }), 202);
    await eventually(async () => (await hopLimitDrops("ttl-loop")) === 1, { timeoutMs: 30_000 });
    assert.equal(subscriber.requests.length, 255);
    assert.equal(subscriber.requests[0]!.headers["ce-knativebrokerttl"], "255");
    assert.equal(await postEvent(url, { id: "b1", extensions: { knativebrokerttl: "lots" } }), 202);
    await eventually(async () => (await hopLimitDrops("ttl-loop")) === 2, { timeoutMs: 30_000 });
    assert.equal(subscriber.requests.length, 510);
    assert.equal(subscriber.requests[255]!.headers["ce-knativebrokerttl"], "255");
  });

  it("a pass-through Subscription (reply only) into its own Channel ends too", async () => {
    await herald.apply(`
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: relay }
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: relay-sub }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: relay }
  reply: { ref: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: relay } }
`);
    await ready("/apis/messaging.knative.dev/v1/namespaces/default/subscriptions/relay-sub");
    assert.equal(await postEvent(herald.channelUrl("relay"), { id: "r0" }), 202);
    await eventually(async () => (await hopLimitDrops("relay-sub")) === 1, { timeoutMs: 30_000 });
  });
});
