import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { InProcessHerald, postEvent } from "../support/herald.js";
import { startReceiver, type ReceivedRequest, type Receiver } from "../support/receiver.js";

/** A filter as Knative's are: replies with the event to let it through, answers 202 empty to drop it. */
function parityFilter(wanted: "even" | "odd"): Receiver["respond"] {
  return (request: ReceivedRequest) => {
    const { n } = JSON.parse(request.body.toString("utf8")) as { n: number };
    if ((n % 2 === 0 ? "even" : "odd") !== wanted) return { status: 202 };
    return { status: 200, headers: echoHeaders(request), body: request.body };
  };
}

function echoHeaders(request: ReceivedRequest): Record<string, string> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  for (const [name, value] of Object.entries(request.headers))
    if (name.startsWith("ce-") && typeof value === "string") headers[name] = value;
  return headers;
}

/** A branch subscriber that replies with an event of its own type. */
function labelling(label: string): Receiver["respond"] {
  return (request: ReceivedRequest) => ({
    status: 200,
    headers: { ...echoHeaders(request), "ce-type": `dev.herald.${label}` },
    body: request.body,
  });
}

interface Status {
  address?: { url: string };
  conditions?: Array<{ type: string; status: string }>;
  ingressChannelStatus?: { channel: { name: string }; ready: { status: string } };
  branchStatuses?: Array<{
    filterSubscriptionStatus: { subscription: { name: string }; ready: { status: string } };
    filterChannelStatus: { channel: { name: string } };
    subscriberSubscriptionStatus: { subscription: { name: string } };
  }>;
}

describe("Parallel", () => {
  let herald: InProcessHerald;
  const receivers: Record<string, Receiver> = {};

  before(async () => {
    herald = await InProcessHerald.start();
    receivers.evenFilter = await startReceiver(parityFilter("even"));
    receivers.oddFilter = await startReceiver(parityFilter("odd"));
    receivers.even = await startReceiver(labelling("even"));
    receivers.odd = await startReceiver(labelling("odd"));
    receivers.all = await startReceiver(labelling("all"));
    receivers.reply = await startReceiver();
    receivers.oddReply = await startReceiver();
  });
  after(async () => {
    await herald.close();
    await Promise.all(Object.values(receivers).map((r) => r.close()));
  });

  it("sends each event to the branches whose filter passes it, then to the branch's or the Parallel's reply", async () => {
    const { evenFilter, oddFilter, even, odd, all, reply, oddReply } = receivers;
    await herald.apply(`
apiVersion: flows.knative.dev/v1
kind: Parallel
metadata:
  name: parity
spec:
  channelTemplate:
    apiVersion: messaging.knative.dev/v1
    kind: InMemoryChannel
  branches:
    - filter:
        uri: ${evenFilter!.url}
      subscriber:
        uri: ${even!.url}
    - filter:
        uri: ${oddFilter!.url}
      subscriber:
        uri: ${odd!.url}
      reply:
        uri: ${oddReply!.url}
    - subscriber:
        uri: ${all!.url}
  reply:
    uri: ${reply!.url}
`);
    const path = "/apis/flows.knative.dev/v1/namespaces/default/parallels/parity";
    const status = await eventually(async () => {
      const current = (await herald.get<{ status?: Status }>(path)).body.status;
      return current?.conditions?.find((c) => c.type === "Ready")?.status === "True" && current;
    });
    assert.match(status.address!.url, /\/channels\/default\/parity-kn-parallel$/);
    assert.equal(status.ingressChannelStatus!.channel.name, "parity-kn-parallel");
    assert.deepEqual(
      status.branchStatuses!.map((b) => [
        b.filterSubscriptionStatus.subscription.name,
        b.filterChannelStatus.channel.name,
        b.subscriberSubscriptionStatus.subscription.name,
      ]),
      [0, 1, 2].map((i) => [
        `parity-kn-parallel-filter-${i}`,
        `parity-kn-parallel-${i}`,
        `parity-kn-parallel-${i}`,
      ]),
    );

    for (const n of [1, 2, 3])
      assert.equal(await postEvent(status.address!.url, { id: `n${n}`, data: JSON.stringify({ n }) }), 202);
    await eventually(() => reply!.requests.length === 4 && oddReply!.requests.length === 2);
    const numbers = (requests: ReceivedRequest[]) =>
      requests.map((r) => (JSON.parse(r.body.toString("utf8")) as { n: number }).n).sort();
    assert.deepEqual(numbers(even!.requests), [2]);
    assert.deepEqual(numbers(odd!.requests), [1, 3]);
    assert.deepEqual(numbers(all!.requests), [1, 2, 3]);
    assert.deepEqual(numbers(oddReply!.requests), [1, 3]);
    assert.deepEqual(
      reply!.requests.map((r) => `${String(r.headers["ce-type"])}:${numbers([r])[0]}`).sort(),
      ["dev.herald.all:1", "dev.herald.all:2", "dev.herald.all:3", "dev.herald.even:2"].sort(),
    );
  });
});
