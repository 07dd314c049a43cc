import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { HeraldProcess, postEvent } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

describe("in-memory events at shutdown", () => {
  let herald: HeraldProcess;
  let subscriber: Receiver;
  before(async () => {
    subscriber = await startReceiver(() => ({ status: 503 }));
    herald = await HeraldProcess.start();
  });
  after(async () => {
    await herald.close();
    await subscriber.close();
  });

  it("logs how many events of each channel a graceful stop discards", async () => {
    await herald.apply(`apiVersion: messaging.knative.dev/v1
kind: InMemoryChannel
metadata: { name: doomed }
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: doomed-sub }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, name: doomed }
  subscriber: { uri: "${subscriber.url}" }
  delivery: { retry: 100, backoffPolicy: linear, backoffDelay: PT1S }
`);
    for (let index = 0; index < 5; index++) assert.equal(await postEvent(herald.channelUrl("doomed")), 202);
    await eventually(() => subscriber.requests.length >= 5, { message: "the events to be tried" });
    assert.equal(await herald.stop(), 0);
    const line = herald.output
      .split("\n")
      .filter((text) => text.includes("discarded at shutdown"))
      .map((text) => JSON.parse(text) as { channel: string; discarded: number; subscriptions: object });
    assert.deepEqual(
      line.map(({ channel, discarded, subscriptions }) => ({ channel, discarded, subscriptions })),
      [{ channel: "default/doomed", discarded: 5, subscriptions: { "default/doomed-sub": 5 } }],
    );
  });
});
