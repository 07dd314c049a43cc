import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { InProcessHerald, postEvent } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

function channel(name: string, extra = ""): string {
  return `
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: ${name} }
${extra}
`;
}

function subscription(name: string, channelName: string, spec: string, annotations = ""): string {
  return `
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata:
  name: ${name}
  ${annotations}
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: ${channelName} }
${spec}
`;
}

describe("delivery from a channel to its subscribers", () => {
  let herald: InProcessHerald;
  const receivers: Receiver[] = [];
  const receiver = async (respond?: Receiver["respond"]) => {
    const started = await startReceiver(respond);
    receivers.push(started);
    return started;
  };

  before(async () => {
    herald = await InProcessHerald.start({ env: { HERALD_MEMORY_CAPACITY: "5" } });
  });
  after(async () => {
    await herald.close();
    await Promise.all(receivers.map((r) => r.close()));
  });

  it("fans out every event to every subscription, and a failing subscriber does not hold the others", async () => {
    const a = await receiver();
    const b = await receiver();
    const failing = await receiver(() => ({ status: 500 }));
    await herald.apply(
      [
        channel("fanout"),
        subscription("fan-a", "fanout", `  subscriber: { uri: "${a.url}" }`),
        subscription("fan-b", "fanout", `  subscriber: { uri: "${b.url}" }`),
        subscription(
          "fan-failing",
          "fanout",
          `  subscriber: { uri: "${failing.url}" }\n  delivery: { retry: 5, backoffPolicy: linear, backoffDelay: PT1S }`,
        ),
      ].join("---"),
    );
    for (let i = 0; i < 4; i++)
      assert.equal(await postEvent(herald.channelUrl("fanout"), { id: `fan-${i}` }), 202);
    await eventually(() => a.requests.length === 4 && b.requests.length === 4);
    assert.deepEqual(a.requests.map((r) => r.headers["ce-id"]).sort(), ["fan-0", "fan-1", "fan-2", "fan-3"]);
    assert.deepEqual(b.requests.map((r) => r.headers["ce-id"]).sort(), ["fan-0", "fan-1", "fan-2", "fan-3"]);
  });

  it("retries with a linear backoff schedule, then succeeds", async () => {
    const flaky = await receiver((_req, index) => ({ status: index < 3 ? 503 : 202 }));
    await herald.apply(
      [
        channel("linear"),
        subscription(
          "linear-sub",
          "linear",
          `  subscriber: { uri: "${flaky.url}" }\n  delivery: { retry: 5, backoffPolicy: linear, backoffDelay: PT0.2S }`,
        ),
      ].join("---"),
    );
    assert.equal(await postEvent(herald.channelUrl("linear")), 202);
    await eventually(() => flaky.requests.length === 4);
    const gaps = flaky.requests.slice(1).map((r, i) => r.at - flaky.requests[i]!.at);
    // linear: backoffDelay × n for retry n = 1, 2, 3 → 200, 400, 600 ms (generous tolerance).
    [200, 400, 600].forEach((expected, i) =>
      assert.ok(gaps[i]! >= expected * 0.8, `gap ${i} was ${gaps[i]} ms, expected ≈${expected}`),
    );
    assert.ok(gaps[2]! > gaps[0]!, `linear gaps grow: ${gaps.join(", ")}`);
  });

  it("retries with an exponential backoff schedule", async () => {
    const flaky = await receiver((_req, index) => ({ status: index < 3 ? 500 : 200 }));
    await herald.apply(
      [
        channel("expo"),
        subscription(
          "expo-sub",
          "expo",
          `  subscriber: { uri: "${flaky.url}" }\n  delivery: { retry: 4, backoffPolicy: exponential, backoffDelay: PT0.1S }`,
        ),
      ].join("---"),
    );
    assert.equal(await postEvent(herald.channelUrl("expo")), 202);
    await eventually(() => flaky.requests.length === 4);
    const gaps = flaky.requests.slice(1).map((r, i) => r.at - flaky.requests[i]!.at);
    // exponential: backoffDelay × 2^n → 200, 400, 800 ms for n = 1, 2, 3.
    [200, 400, 800].forEach((expected, i) =>
      assert.ok(gaps[i]! >= expected * 0.8, `gap ${i} was ${gaps[i]} ms, expected ≈${expected}`),
    );
  });

  it("honours Retry-After on 429, capped by retryAfterMax", async () => {
    const limited = await receiver((_req, index) =>
      index === 0 ? { status: 429, headers: { "retry-after": "30" } } : { status: 202 },
    );
    await herald.apply(
      [
        channel("retry-after"),
        subscription(
          "retry-after-sub",
          "retry-after",
          `  subscriber: { uri: "${limited.url}" }\n  delivery: { retry: 2, backoffPolicy: linear, backoffDelay: PT0.05S, retryAfterMax: PT1S }`,
        ),
      ].join("---"),
    );
    assert.equal(await postEvent(herald.channelUrl("retry-after")), 202);
    await eventually(() => limited.requests.length === 2, { timeoutMs: 15_000 });
    const gap = limited.requests[1]!.at - limited.requests[0]!.at;
    assert.ok(
      gap >= 800,
      `waited ${gap} ms: Retry-After (capped at 1 s) must be honoured over the 50 ms backoff`,
    );
    assert.ok(gap < 10_000, `waited ${gap} ms: retryAfterMax must cap the 30 s Retry-After`);
  });

  it("bounds each attempt by the delivery timeout and retries", async () => {
    const slow = await receiver((_req, index) =>
      index === 0 ? { status: 200, delayMs: 3_000 } : { status: 200 },
    );
    await herald.apply(
      [
        channel("timeouts"),
        subscription(
          "timeouts-sub",
          "timeouts",
          `  subscriber: { uri: "${slow.url}" }\n  delivery: { retry: 1, backoffDelay: PT0.01S, timeout: PT0.3S }`,
        ),
      ].join("---"),
    );
    assert.equal(await postEvent(herald.channelUrl("timeouts")), 202);
    await eventually(() => slow.requests.length === 2);
    const gap = slow.requests[1]!.at - slow.requests[0]!.at;
    assert.ok(
      gap < 2_500,
      `the retry came ${gap} ms after the first attempt: the 300 ms timeout was not applied`,
    );
  });

  it("dead-letters after retry is exhausted, with knativeerrordest, knativeerrorcode and knativeerrordata", async () => {
    const broken = await receiver(() => ({ status: 500, body: "database is down" }));
    const deadLetters = await receiver();
    await herald.apply(
      [
        channel("dls"),
        subscription(
          "dls-sub",
          "dls",
          `  subscriber: { uri: "${broken.url}" }\n  delivery:\n    retry: 2\n    backoffPolicy: linear\n    backoffDelay: PT0.05S\n    deadLetterSink: { uri: "${deadLetters.url}" }`,
        ),
      ].join("---"),
    );
    assert.equal(await postEvent(herald.channelUrl("dls"), { id: "doomed" }), 202);
    const dead = await eventually(() => deadLetters.requests[0]);
    assert.equal(broken.requests.length, 3, "one attempt plus two retries");
    assert.equal(dead.headers["ce-id"], "doomed");
    assert.equal(dead.headers["ce-knativeerrordest"], broken.url);
    assert.equal(dead.headers["ce-knativeerrorcode"], "500");
    assert.equal(
      Buffer.from(String(dead.headers["ce-knativeerrordata"]), "base64").toString(),
      "database is down",
    );
  });

  it("sends a non-retryable 400 straight to the dead-letter sink", async () => {
    const rejecting = await receiver(() => ({ status: 400 }));
    const deadLetters = await receiver();
    await herald.apply(
      [
        channel("bad-request"),
        subscription(
          "bad-request-sub",
          "bad-request",
          `  subscriber: { uri: "${rejecting.url}" }\n  delivery: { retry: 5, backoffDelay: PT0.05S, deadLetterSink: { uri: "${deadLetters.url}" } }`,
        ),
      ].join("---"),
    );
    assert.equal(await postEvent(herald.channelUrl("bad-request")), 202);
    const dead = await eventually(() => deadLetters.requests[0]);
    assert.equal(dead.headers["ce-knativeerrorcode"], "400");
    assert.equal(rejecting.requests.length, 1, "a 400 is not retried");
  });

  it("forwards a reply event to spec.reply, here another channel by ref", async () => {
    const replying = await receiver(() => ({
      status: 200,
      headers: {
        "ce-specversion": "1.0",
        "ce-id": "reply-1",
        "ce-type": "order.processed",
        "ce-source": "/processor",
        "content-type": "application/json",
      },
      body: JSON.stringify({ ok: true }),
    }));
    const replies = await receiver();
    await herald.apply(
      [
        channel("requests"),
        channel("replies"),
        subscription("replies-sub", "replies", `  subscriber: { uri: "${replies.url}" }`),
        subscription(
          "requests-sub",
          "requests",
          `  subscriber: { uri: "${replying.url}" }\n  reply: { ref: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: replies } }`,
        ),
      ].join("---"),
    );
    assert.equal(await postEvent(herald.channelUrl("requests")), 202);
    const reply = await eventually(() => replies.requests[0]);
    assert.equal(reply.headers["ce-type"], "order.processed");
    assert.deepEqual(JSON.parse(reply.body.toString()), { ok: true });
  });

  it("answers 503, never 202, when the in-memory channel is full", async () => {
    const stuck = await receiver(() => ({ status: 200, delayMs: 60_000 }));
    await herald.apply(
      [
        channel(
          "full",
          "spec: { channelTemplate: { apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel } }",
        ),
        subscription(
          "full-sub",
          "full",
          `  subscriber: { uri: "${stuck.url}" }`,
          "annotations: { kafka.eventing.knative.dev/delivery.order: ordered }",
        ),
      ].join("---"),
    );
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push(await postEvent(herald.channelUrl("full")));
    assert.ok(statuses.includes(503), `statuses: ${statuses.join(",")}`);
    // capacity 5 plus the one event in flight: exactly those were accepted.
    assert.equal(statuses.filter((s) => s === 202).length, 6, `statuses: ${statuses.join(",")}`);
  });
});
