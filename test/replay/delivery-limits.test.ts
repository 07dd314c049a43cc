import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

const MEMORY_CHANNEL = "apiVersion: messaging.knative.dev/v1\n    kind: InMemoryChannel";

function channelAndSubscription(name: string, annotations: string, subscriber: string, deadLetter?: string) {
  return `
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: ${name} }
spec:
  channelTemplate:
    ${MEMORY_CHANNEL}
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: ${name}, annotations: ${annotations} }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: ${name} }
  subscriber: { uri: "${subscriber}" }
  ${deadLetter ? `delivery: { deadLetterSink: { uri: "${deadLetter}" } }` : ""}
`;
}

async function post(url: string, id: string, time?: string): Promise<number> {
  const headers: Record<string, string> = {
    "ce-specversion": "1.0",
    "ce-id": id,
    "ce-type": "dev.herald.test",
    "ce-source": "/test",
    "content-type": "application/json",
  };
  if (time) headers["ce-time"] = time;
  const response = await fetch(url, { method: "POST", headers, body: "{}" });
  await response.arrayBuffer();
  return response.status;
}

describe("delivery limits: herald.dev/max-event-age and herald.dev/max-delivery-rate", () => {
  let server: InProcessHerald;
  let subscriber: Receiver;
  let deadLetters: Receiver;
  before(async () => {
    server = await InProcessHerald.start();
    subscriber = await startReceiver();
    deadLetters = await startReceiver();
  });
  after(async () => {
    await server.close();
    await subscriber.close();
    await deadLetters.close();
  });

  it("sends an event whose time is older than max-event-age to the dead-letter sink with the reason, and delivers the others", async () => {
    await server.apply(
      channelAndSubscription(
        "aged",
        '{ herald.dev/max-event-age: "PT1M" }',
        `${subscriber.url}aged`,
        `${deadLetters.url}aged`,
      ),
    );
    const url = server.channelUrl("aged");
    const old = new Date(Date.now() - 5 * 60_000).toISOString();
    const fresh = new Date().toISOString();
    assert.equal(await post(url, "old", old), 202);
    assert.equal(await post(url, "fresh", fresh), 202);
    assert.equal(await post(url, "timeless"), 202);

    const ids = (receiver: Receiver) =>
      receiver.requests.filter((r) => r.url === "/aged").map((r) => String(r.headers["ce-id"]));
    await eventually(() => ids(subscriber).length === 2 && ids(deadLetters).length === 1, {
      message: "two delivered, one dead-lettered",
    });
    assert.deepEqual(ids(subscriber).sort(), ["fresh", "timeless"]);
    const [dead] = deadLetters.requests.filter((r) => r.url === "/aged");
    assert.equal(dead!.headers["ce-id"], "old");
    assert.equal(dead!.headers["ce-knativeerrordest"], `${subscriber.url}aged`);
    const reason = Buffer.from(String(dead!.headers["ce-knativeerrordata"]), "base64").toString();
    assert.match(reason, /event expired: its time .* older than the subscription's max-event-age of 60 s/);
  });

  it("sends at most max-delivery-rate events per second to the subscriber", async () => {
    await server.apply(
      channelAndSubscription("paced", '{ herald.dev/max-delivery-rate: "20" }', `${subscriber.url}paced`),
    );
    const url = server.channelUrl("paced");
    const count = 10;
    for (let i = 0; i < count; i++) assert.equal(await post(url, `paced-${i}`), 202);
    const arrivals = () => subscriber.requests.filter((r) => r.url === "/paced").map((r) => r.at);
    await eventually(() => arrivals().length === count, { message: "every event" });
    const times = arrivals().sort((a, b) => a - b);
    const span = times.at(-1)! - times[0]!;
    // 20/s: one every 50 ms, so 10 events span at least 9 gaps (less 10% for timer granularity).
    assert.ok(span >= 9 * 50 * 0.9, `10 events arrived within ${Math.round(span)} ms`);
  });

  it("refuses invalid limits at apply, naming each annotation, on Subscriptions and Triggers", async () => {
    const subscription = await server.applyRejected(
      channelAndSubscription(
        "invalid",
        '{ herald.dev/max-event-age: "an hour", herald.dev/max-delivery-rate: "0" }',
        `${subscriber.url}invalid`,
      ),
    );
    assert.match(subscription, /metadata\.annotations\[\\?"herald\.dev\/max-event-age\\?"\]/);
    assert.match(subscription, /positive ISO 8601 duration/);
    assert.match(subscription, /metadata\.annotations\[\\?"herald\.dev\/max-delivery-rate\\?"\]/);
    const trigger = await server.applyRejected(`
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: invalid, annotations: { herald.dev/max-delivery-rate: fast } }
spec:
  broker: default
  subscriber: { uri: "${subscriber.url}" }
`);
    assert.match(
      trigger,
      /metadata\.annotations\[\\?"herald\.dev\/max-delivery-rate\\?"\]: must be a number of events per second/,
    );
  });
});
