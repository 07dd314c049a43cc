import assert from "node:assert/strict";
import { eventually } from "./eventually.js";
import { postEvent, type HeraldProcess } from "./herald.js";
import type { Receiver } from "./receiver.js";

/**
 * A `Channel` of the given backing kind and one `Subscription` to `subscriber` (retry 10, 0.1 s
 * backoff), both named `name`: the setup of the backends' end-to-end tests.
 */
export function channelWithSubscription(options: {
  name: string;
  subscriber: string;
  template: string;
  templateSpec?: string;
  annotations?: string;
}): string {
  const { name, subscriber, template, templateSpec, annotations } = options;
  return `
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: ${name} }
spec:
  channelTemplate:
    ${template}${templateSpec ? `\n    spec: ${templateSpec}` : ""}
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: ${name}, annotations: ${annotations ?? "{}"} }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: ${name} }
  subscriber: { uri: "${subscriber}" }
  delivery: { retry: 10, backoffDelay: PT0.1S }
`;
}

/**
 * The no-loss check: streams 200 events into `channel`, SIGKILLs Herald before the 100th and starts
 * it again, then waits until every event answered 202 reached `receiver` at least once.
 */
export async function expectNoLossAcrossKill(
  herald: HeraldProcess,
  channel: string,
  receiver: Receiver,
  timeoutMs = 60_000,
): Promise<void> {
  const accepted = await postStream(
    () => herald.channelUrl(channel),
    200,
    channel,
    async (i) => {
      if (i === 100) {
        await herald.kill();
        await herald.start();
      }
    },
  );
  assert.ok(accepted.size >= 150, `only ${accepted.size} events were accepted`);
  await eventually(() => missing(accepted, receiver).length === 0, {
    timeoutMs,
    message: "every accepted event to be delivered",
  });
}

/**
 * Posts `count` events (ids `${prefix}-0`...) to `url`, a few at a time, and records which ones
 * were answered 202. Requests that fail (Herald down, 503) are simply not accepted; the stream goes
 * on. `during(i)` runs before event i is posted (to crash or restart something mid-stream).
 */
export async function postStream(
  url: () => string,
  count: number,
  prefix: string,
  during?: (index: number) => Promise<void>,
): Promise<Set<string>> {
  const accepted = new Set<string>();
  const batch = 5;
  for (let start = 0; start < count; start += batch) {
    for (let i = start; i < Math.min(count, start + batch); i++) await during?.(i);
    await Promise.all(
      Array.from({ length: Math.min(batch, count - start) }, async (_, offset) => {
        const id = `${prefix}-${start + offset}`;
        const status = await postEvent(url(), { id }).catch(() => 0);
        if (status === 202) accepted.add(id);
      }),
    );
  }
  return accepted;
}

/** The accepted ids the receiver has not seen yet. */
export function missing(accepted: Set<string>, receiver: Receiver): string[] {
  const seen = new Set(receiver.requests.map((r) => String(r.headers["ce-id"])));
  return [...accepted].filter((id) => !seen.has(id));
}
