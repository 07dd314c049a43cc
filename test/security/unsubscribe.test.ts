import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { HeraldProcess, InProcessHerald, postEvent, type HeraldClient } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/** Rejects when `promise` has not settled by the deadline: a hang fails the test instead of stalling it. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

const subscriptionPath = "/apis/messaging.knative.dev/v1/namespaces/default/subscriptions/blk-sub";

/** A Subscription whose 5 events are all waiting out a long retry backoff (20 retries, 5 s × n). */
async function eventsInBackoff(herald: HeraldClient, failing: Receiver): Promise<void> {
  await herald.apply(`
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: blk }
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: blk-sub }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: blk }
  subscriber: { uri: "${failing.url}" }
  delivery: { retry: 20, backoffPolicy: linear, backoffDelay: PT5S }
`);
  await eventually(async () => {
    const { body } = await herald.get<{ status: { conditions?: { type: string; status: string }[] } }>(
      subscriptionPath,
    );
    return body.status.conditions?.find((c) => c.type === "Ready")?.status === "True";
  });
  for (let i = 0; i < 5; i++) assert.equal(await postEvent(herald.channelUrl("blk"), { id: `b${i}` }), 202);
  // Every event had its first attempt refused and now waits 5 s or more before its next one.
  await eventually(() => failing.requests.length >= 5);
}

describe("deleting a Subscription whose events are in retry backoff", () => {
  const receivers: Receiver[] = [];
  const failing = async () => {
    const receiver = await startReceiver(() => ({ status: 503 }));
    receivers.push(receiver);
    return receiver;
  };
  after(async () => {
    await Promise.all(receivers.map((r) => r.close()));
  });

  it("answers the DELETE, and an unrelated apply after it, at once", async () => {
    const herald = await InProcessHerald.start();
    try {
      const subscriber = await failing();
      await eventsInBackoff(herald, subscriber);
      const deleted = await fetch(`${herald.url}${subscriptionPath}`, {
        method: "DELETE",
        signal: AbortSignal.timeout(20_000),
      });
      assert.equal(deleted.status, 200);
      const unrelated = await fetch(
        `${herald.url}/apis/messaging.knative.dev/v1/namespaces/default/channels/unrelated`,
        {
          method: "PUT",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ metadata: { name: "unrelated" } }),
          signal: AbortSignal.timeout(20_000),
        },
      );
      assert.ok(unrelated.status === 200 || unrelated.status === 201, String(unrelated.status));
    } finally {
      await within(20_000, "closing Herald", herald.close());
    }
  });

  it("closing Herald while such a DELETE is under way finishes", async () => {
    const herald = await InProcessHerald.start();
    const subscriber = await failing();
    await eventsInBackoff(herald, subscriber);
    const deleting = fetch(`${herald.url}${subscriptionPath}`, {
      method: "DELETE",
      signal: AbortSignal.timeout(20_000),
    }).then(
      (response) => response.status,
      (error: unknown) => String(error),
    );
    await within(20_000, "closing Herald", herald.close());
    await deleting;
  });

  it("a Herald process stops on SIGTERM after such a DELETE", async () => {
    const herald = await HeraldProcess.start();
    try {
      const subscriber = await failing();
      await eventsInBackoff(herald, subscriber);
      const deleted = await fetch(`${herald.url}${subscriptionPath}`, {
        method: "DELETE",
        signal: AbortSignal.timeout(20_000),
      }).catch((error: unknown) => String(error));
      assert.equal(typeof deleted === "string" ? deleted : deleted.status, 200);
      assert.equal(await within(20_000, "stopping on SIGTERM", herald.stop()), 0);
    } finally {
      await herald.kill();
      await herald.close();
    }
  });
});
