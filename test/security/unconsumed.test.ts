import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { HeraldProcess, postEvent } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

describe("events accepted while a channel has no consumer", () => {
  let herald: HeraldProcess;
  let subscriber: Receiver;
  before(async () => {
    subscriber = await startReceiver();
    herald = await HeraldProcess.start({ env: { HERALD_LOG_LEVEL: "info" } });
  });
  after(async () => {
    await herald.close();
    await subscriber.close();
  });

  it("are counted in herald_events_unconsumed_total and logged with the channel", async () => {
    // The only Subscription is not Ready (its reply does not exist yet), so nothing consumes.
    await herald.apply(`apiVersion: messaging.knative.dev/v1
kind: InMemoryChannel
metadata: { name: lonely }
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: lonely-sub }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, name: lonely }
  subscriber: { uri: "${subscriber.url}" }
  reply: { ref: { apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, name: not-yet } }
`);
    assert.equal(await postEvent(herald.channelUrl("lonely")), 202);
    assert.equal(await postEvent(herald.channelUrl("lonely")), 202);
    const metrics = await (await fetch(`${herald.url}/metrics`)).text();
    assert.match(metrics, /herald_events_unconsumed_total\{namespace="default",name="lonely"\} 2/);
    const logged = await eventually(() => {
      const lines = herald.output.split("\n").filter((line) => line.includes("no one will receive them"));
      return (
        lines.length > 0 &&
        lines.map((line) => JSON.parse(line) as { level: number; channel: string; events: number })
      );
    });
    assert.deepEqual(
      logged.map(({ level, channel, events }) => ({ level, channel, events })),
      [{ level: 30, channel: "InMemoryChannel/default/lonely", events: 1 }],
    );
  });
});
