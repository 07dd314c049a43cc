import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { InProcessHerald, postEvent } from "../support/herald.js";
import { startReceiver, type ReceivedRequest, type Receiver } from "../support/receiver.js";

/** A step that replies with the event it got, its data's `steps` array extended with its name. */
function appendingStep(name: string): Receiver["respond"] {
  return (request: ReceivedRequest) => {
    const data = JSON.parse(request.body.toString("utf8")) as { steps?: string[] };
    return {
      status: 200,
      headers: {
        "ce-specversion": "1.0",
        "ce-id": `${String(request.headers["ce-id"])}-${name}`,
        "ce-type": `dev.herald.${name}`,
        "ce-source": `/steps/${name}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ steps: [...(data.steps ?? []), name] }),
    };
  };
}

interface Status {
  address?: { url: string };
  conditions?: Array<{ type: string; status: string; reason?: string }>;
  channelStatuses?: Array<{ channel: { kind: string; name: string }; ready: { status: string } }>;
  subscriptionStatuses?: Array<{ subscription: { name: string }; ready: { status: string } }>;
}

const ready = (status: Status | undefined) =>
  status?.conditions?.find((c) => c.type === "Ready")?.status === "True";

describe("Sequence", () => {
  let herald: InProcessHerald;
  let first: Receiver;
  let second: Receiver;
  let reply: Receiver;

  before(async () => {
    herald = await InProcessHerald.start();
    [first, second, reply] = await Promise.all([
      startReceiver(appendingStep("first")),
      startReceiver(appendingStep("second")),
      startReceiver(),
    ]);
  });
  after(async () => {
    await herald.close();
    await Promise.all([first.close(), second.close(), reply.close()]);
  });

  const sequence = (name: string) => `
apiVersion: flows.knative.dev/v1
kind: Sequence
metadata:
  name: ${name}
spec:
  channelTemplate:
    apiVersion: messaging.knative.dev/v1
    kind: InMemoryChannel
  steps:
    - uri: ${first.url}
    - uri: ${second.url}
      delivery:
        retry: 2
        backoffDelay: PT0.1S
  reply:
    uri: ${reply.url}
`;

  const statusOf = async (name: string) =>
    (await herald.get<{ status?: Status }>(`/apis/flows.knative.dev/v1/namespaces/default/sequences/${name}`))
      .body.status;

  it("passes an event through two steps, each replying a transformed event, to the reply", async () => {
    await herald.apply(sequence("two-steps"));
    const status = await eventually(async () => {
      const current = await statusOf("two-steps");
      return ready(current) && current;
    });
    assert.match(status.address!.url, /\/channels\/default\/two-steps-kn-sequence-0$/);
    assert.deepEqual(
      status.channelStatuses!.map((c) => [c.channel.kind, c.channel.name, c.ready.status]),
      [
        ["InMemoryChannel", "two-steps-kn-sequence-0", "True"],
        ["InMemoryChannel", "two-steps-kn-sequence-1", "True"],
      ],
    );
    assert.deepEqual(
      status.subscriptionStatuses!.map((s) => [s.subscription.name, s.ready.status]),
      [
        ["two-steps-kn-sequence-0", "True"],
        ["two-steps-kn-sequence-1", "True"],
      ],
    );

    // kubectl's table: Knative's Sequence columns.
    const table = (await (
      await fetch(`${herald.apiUrl}/apis/flows.knative.dev/v1/namespaces/default/sequences`, {
        headers: { accept: "application/json;as=Table;v=v1;g=meta.k8s.io" },
      })
    ).json()) as { columnDefinitions: Array<{ name: string }>; rows: Array<{ cells: unknown[] }> };
    assert.deepEqual(
      table.columnDefinitions.map((c) => c.name),
      ["Name", "URL", "Age", "Ready", "Reason"],
    );
    assert.deepEqual(table.rows[0]!.cells.slice(0, 2), ["two-steps", status.address!.url]);

    assert.equal(
      await postEvent(status.address!.url, { id: "e1", data: JSON.stringify({ steps: [] }) }),
      202,
    );
    const received = await eventually(() => reply.requests[0]);
    assert.deepEqual(JSON.parse(received.body.toString("utf8")), { steps: ["first", "second"] });
    assert.equal(received.headers["ce-type"], "dev.herald.second");
    assert.equal(received.headers["ce-id"], "e1-first-second");
    assert.equal(first.requests.length, 1);
  });

  it("is addressable by a Trigger's subscriber ref, and deleting it removes its channels and subscriptions", async () => {
    await herald.apply(`${sequence("triggered")}
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: default
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: to-sequence
spec:
  broker: default
  subscriber:
    ref:
      apiVersion: flows.knative.dev/v1
      kind: Sequence
      name: triggered
`);
    const trigger = `/apis/eventing.knative.dev/v1/namespaces/default/triggers/to-sequence`;
    await eventually(async () => ready((await herald.get<{ status?: Status }>(trigger)).body.status));
    const before = reply.requests.length;
    assert.equal(await postEvent(`${herald.url}/brokers/default/default`, { data: "{}" }), 202);
    const received = await eventually(() => reply.requests[before]);
    assert.deepEqual(JSON.parse(received.body.toString("utf8")), { steps: ["first", "second"] });

    assert.equal(
      await herald.delete("/apis/flows.knative.dev/v1/namespaces/default/sequences/triggered"),
      200,
    );
    const subscriptions = await herald.get<{ items: Array<{ metadata: { name: string } }> }>(
      "/apis/messaging.knative.dev/v1/namespaces/default/subscriptions",
    );
    assert.deepEqual(
      subscriptions.body.items.map((s) => s.metadata.name).filter((n) => n.startsWith("triggered")),
      [],
    );
    const channels = await herald.get<{ items: Array<{ metadata: { name: string } }> }>(
      "/apis/messaging.knative.dev/v1/namespaces/default/inmemorychannels",
    );
    assert.deepEqual(
      channels.body.items.map((c) => c.metadata.name).filter((n) => n.startsWith("triggered")),
      [],
    );
  });

  it("gets the default channel template when it has none, as Knative's defaulting does, shown in its spec", async () => {
    await herald.apply(`
apiVersion: flows.knative.dev/v1
kind: Sequence
metadata:
  name: defaulted
spec:
  steps:
    - uri: ${first.url}
`);
    const { body } = await herald.get<{
      spec: { channelTemplate?: { apiVersion: string; kind: string } };
      status?: Status;
    }>("/apis/flows.knative.dev/v1/namespaces/default/sequences/defaulted");
    assert.equal(body.spec.channelTemplate?.kind, "LogChannel");
    assert.equal(body.spec.channelTemplate?.apiVersion, "messaging.herald.dev/v1alpha1");
    const status = await eventually(async () => {
      const current = await statusOf("defaulted");
      return ready(current) && current;
    });
    assert.equal(status.channelStatuses![0]!.channel.kind, "LogChannel");
  });

  it("refuses steps and Parallel filters that would send events to Herald's own resource API", async () => {
    const api = `${herald.apiUrl}/apis/messaging.knative.dev/v1/namespaces/default/channels`;
    const sequence = await herald.applyRejected(`
apiVersion: flows.knative.dev/v1
kind: Sequence
metadata:
  name: to-api
spec:
  steps:
    - uri: ${first.url}
    - uri: ${api}
`);
    assert.match(sequence, /spec\.steps\[1\]\.uri: .* is this Herald's own resource API/);
    const parallel = await herald.applyRejected(`
apiVersion: flows.knative.dev/v1
kind: Parallel
metadata:
  name: to-api
spec:
  branches:
    - filter:
        uri: ${api}
      subscriber:
        uri: ${first.url}
`);
    assert.match(parallel, /spec\.branches\[0\]\.filter\.uri: .* is this Herald's own resource API/);
  });

  it("refuses a Sequence without steps, and a misspelt step field, naming the field", async () => {
    const refused = await herald.applyRejected(`
apiVersion: flows.knative.dev/v1
kind: Sequence
metadata:
  name: bad
spec:
  steps:
    - uri: http://127.0.0.1:1/
      delivry: {}
`);
    assert.match(refused, /spec\.steps\[0\]/);
    assert.match(refused, /delivry/);
    assert.match(
      await herald.applyRejected(`
apiVersion: flows.knative.dev/v1
kind: Sequence
metadata:
  name: empty
spec:
  steps: []
`),
      /spec\.steps: must have at least one step/,
    );
  });
});
