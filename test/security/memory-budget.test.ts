import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/** POSTs one binary-mode event of `size` bytes of data; resolves with the status and the body. */
async function postSized(url: string, id: string, size: number): Promise<{ status: number; body: string }> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "ce-specversion": "1.0",
      "ce-id": id,
      "ce-type": "dev.herald.test",
      "ce-source": "/test",
      "content-type": "text/plain",
    },
    body: "a".repeat(size),
  });
  return { status: response.status, body: await response.text() };
}

describe("in-memory channels under large events", () => {
  let herald: InProcessHerald;
  let subscriber: Receiver;
  before(async () => {
    subscriber = await startReceiver(() => ({ status: 503 }));
    herald = await InProcessHerald.start({
      env: { HERALD_MEMORY_MAX_BYTES: "300000", HERALD_MEMORY_TOTAL_MAX_BYTES: "400000" },
    });
    await herald.apply(`apiVersion: messaging.knative.dev/v1
kind: InMemoryChannel
metadata: { name: big }
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: big-sub }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, name: big }
  subscriber: { uri: "${subscriber.url}" }
  delivery: { retry: 1000, backoffPolicy: linear, backoffDelay: PT0.05S }
`);
  });
  after(async () => {
    await herald.close();
    await subscriber.close();
  });

  it("answers 503 ChannelFull once a subscription holds HERALD_MEMORY_MAX_BYTES, events in retry included, and 202 again once they are delivered", async () => {
    const url = herald.channelUrl("big");
    let accepted = 0;
    let refused: { status: number; body: string } | undefined;
    for (let index = 0; index < 20 && !refused; index++) {
      const answer = await postSized(url, `big-${index}`, 100_000);
      if (answer.status === 202) accepted++;
      else refused = answer;
    }
    // 100 000 bytes of data each, plus their attributes: two fit in 300 000 bytes, the third does not.
    assert.equal(accepted, 2);
    assert.equal(refused?.status, 503);
    assert.match(refused.body, /ChannelFull/);
    assert.match(refused.body, /HERALD_MEMORY_MAX_BYTES/);
    await eventually(() => subscriber.requests.length >= 4, { message: "the events to be retried" });

    subscriber.respond = () => ({ status: 202 });
    await eventually(async () => (await postSized(url, "after", 100_000)).status === 202, {
      message: "the channel to take events again",
    });
  });

  it("answers 413 for one event larger than the budget, which could never be queued", async () => {
    const answer = await postSized(herald.channelUrl("big"), "huge", 350_000);
    assert.equal(answer.status, 413);
    assert.match(answer.body, /HERALD_MEMORY_MAX_BYTES/);
  });
});
