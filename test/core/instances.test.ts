import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { defineChannelPlugin } from "../../adapters/adapter.js";
import { memoryChannelPlugin } from "../../adapters/memory/index.js";
import { defaultPlugins } from "../../src/default-plugins.js";
import type { HeraldPlugins } from "../../src/plugins.js";
import { eventually } from "../support/eventually.js";
import { InProcessHerald, postEvent } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface Stored {
  metadata: { uid: string };
  status: { conditions?: Condition[] };
}
const readyOf = (resource: Stored) => resource.status.conditions?.find((c) => c.type === "Ready");

/** A second in-process channel kind, made from the memory backend: what a third-party plug-in looks like. */
const testChannelPlugin = defineChannelPlugin({
  ...memoryChannelPlugin,
  kind: {
    group: "messaging.example.dev",
    versions: ["v1"],
    kind: "TestChannel",
    plural: "testchannels",
    shortNames: ["tc"],
  },
  config: undefined,
  brokerClasses: ["TestBroker"],
  create: (context) => memoryChannelPlugin.create({ ...context, config: { capacity: 100 } }),
});
const plugins: HeraldPlugins = {
  ...defaultPlugins,
  channels: [...defaultPlugins.channels, testChannelPlugin],
};

const subscription = (
  name: string,
  channelKind: string,
  apiVersion: string,
  channel: string,
  uri: string,
) => `
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: ${name} }
spec:
  channel: { apiVersion: ${apiVersion}, kind: ${channelKind}, name: ${channel} }
  subscriber: { uri: "${uri}" }
`;

async function reconcilePasses(herald: InProcessHerald): Promise<number> {
  const text = await (await fetch(`${herald.url}/metrics`)).text();
  return Number(/^herald_reconcile_passes_total (\d+)/m.exec(text)?.[1] ?? 0);
}

describe("one Herald instance", () => {
  let first: InProcessHerald;
  let second: InProcessHerald;
  let receiver: Receiver;

  before(async () => {
    receiver = await startReceiver();
    [first, second] = await Promise.all([InProcessHerald.start({ plugins }), InProcessHerald.start()]);
  });
  after(async () => {
    await Promise.all([first.close(), second.close()]);
    await receiver.close();
  });

  it("runs beside another in one process, each on its own port with its own resources and metrics", async () => {
    assert.notEqual(first.url, second.url);
    await first.apply(`
apiVersion: messaging.knative.dev/v1
kind: InMemoryChannel
metadata: { name: only-in-first }
${subscription("counted", "InMemoryChannel", "messaging.knative.dev/v1", "only-in-first", receiver.url)}`);
    assert.equal(
      (await second.get("/apis/messaging.knative.dev/v1/namespaces/default/inmemorychannels/only-in-first"))
        .status,
      404,
    );
    assert.equal(await postEvent(first.channelUrl("only-in-first")), 202);
    assert.equal(await postEvent(second.channelUrl("only-in-first")), 404);
    await eventually(() => receiver.requests.length === 1, { message: "the event delivered" });
    const metricsOf = async (herald: InProcessHerald) => (await fetch(`${herald.url}/metrics`)).text();
    assert.match(
      await metricsOf(first),
      /herald_ingress_events_accepted_total\{namespace="default",name="only-in-first"\} 1/,
    );
    assert.doesNotMatch(await metricsOf(second), /only-in-first/);
  });

  it("serves a plug-in's kind and Broker class given to this instance only", async () => {
    const kinds = async (herald: InProcessHerald) =>
      (await herald.get<{ kinds: { kind: string }[] }>("/apis")).body.kinds.map((k) => k.kind);
    assert.ok((await kinds(first)).includes("TestChannel"));
    assert.ok(!(await kinds(second)).includes("TestChannel"));
    const [broker] = await first.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: custom
  annotations: { eventing.knative.dev/broker.class: TestBroker }
`);
    assert.deepEqual((broker!.status as { channel?: { kind: string } }).channel?.kind, "TestChannel");
  });

  it("refuses a second channel kind at an address already served, without tearing the first down", async () => {
    await first.apply(`
apiVersion: messaging.knative.dev/v1
kind: InMemoryChannel
metadata: { name: shared }
${subscription("on-shared", "InMemoryChannel", "messaging.knative.dev/v1", "shared", receiver.url)}`);
    const before = receiver.requests.length;
    const [conflicting] = await first.apply(`
apiVersion: messaging.example.dev/v1
kind: TestChannel
metadata: { name: shared }
`);
    const ready = readyOf(conflicting as unknown as Stored);
    assert.equal(ready?.status, "False");
    assert.equal(ready?.reason, "AddressConflict");
    assert.match(ready?.message ?? "", /InMemoryChannel default\/shared already serves this address/);
    // Several reconcile passes later the first channel still runs and delivers.
    const passes = await reconcilePasses(first);
    await eventually(async () => (await reconcilePasses(first)) >= passes + 3, {
      message: "three more passes",
    });
    assert.equal(await postEvent(first.channelUrl("shared")), 202);
    await eventually(() => receiver.requests.length === before + 1, {
      message: "delivery on the first channel",
    });
    const imc = await first.get<Stored>(
      "/apis/messaging.knative.dev/v1/namespaces/default/inmemorychannels/shared",
    );
    assert.equal(readyOf(imc.body)?.status, "True");
  });

  it("keeps a Channel's channelTemplate immutable, as Knative does", async () => {
    await first.apply(`
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: templated }
spec:
  channelTemplate: { apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel }
`);
    const message = await first.applyRejected(`
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: templated }
spec:
  channelTemplate: { apiVersion: messaging.example.dev/v1, kind: TestChannel }
`);
    assert.match(message, /spec\.channelTemplate/);
    assert.match(message, /immutable/);
    const defaulted = await first.get<{ spec: { channelTemplate?: { kind: string } } }>(
      "/apis/messaging.knative.dev/v1/namespaces/default/channels/templated",
    );
    assert.equal(defaulted.body.spec.channelTemplate?.kind, "InMemoryChannel");
  });

  it("sets a Channel's default channelTemplate (the durable LogChannel) once, when it is applied", async () => {
    const [channel] = await first.apply(`
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: defaulted }
`);
    assert.deepEqual((channel as unknown as { spec: unknown }).spec, {
      channelTemplate: { apiVersion: "messaging.herald.dev/v1alpha1", kind: "LogChannel" },
    });
  });

  it("refuses to move a Subscription to another channel or a Trigger to another broker", async () => {
    const moved = await first.applyRejected(
      subscription("on-shared", "InMemoryChannel", "messaging.knative.dev/v1", "only-in-first", receiver.url),
    );
    assert.match(moved, /spec\.channel: is immutable/);
    const trigger = (broker: string) => `
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: pinned }
spec: { broker: ${broker}, subscriber: { uri: "${receiver.url}" } }
`;
    await first.apply(trigger("custom"));
    assert.match(await first.applyRejected(trigger("elsewhere")), /spec\.broker: is immutable/);
  });

  it("removes a deleted Subscription's metric label sets", async () => {
    const metrics = async () => (await fetch(`${first.url}/metrics`)).text();
    await eventually(
      async () =>
        /herald_event_dispatch_attempts_total\{namespace="default",name="counted"/.test(await metrics()),
      {
        message: "the subscription's delivery counted",
      },
    );
    assert.equal(
      await first.delete("/apis/messaging.knative.dev/v1/namespaces/default/subscriptions/counted"),
      200,
    );
    await eventually(async () => !/name="counted"/.test(await metrics()), {
      message: "its label sets removed",
    });
  });
});
