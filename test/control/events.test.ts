import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import pino from "pino";
import { EventRecorder } from "../../src/control/event-recorder.js";
import { ResourceStore } from "../../src/control/store.js";
import type { CoreEventResource } from "../../src/resources/core-event.js";
import { coreKinds, KindRegistry } from "../../src/resources/kinds.js";
import { validateManifest } from "../../src/resources/validation.js";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/**
 * Kubernetes core v1 Events about Herald's resources: recorded on Ready changes, deduplicated,
 * bounded by time to live and per namespace, served with Kubernetes' field selectors and watched
 * by ApiServerSource.
 */
interface EventBody {
  metadata: { name: string; namespace: string };
  involvedObject: { kind: string; name: string; namespace?: string; uid?: string };
  type: string;
  reason: string;
  message: string;
  count: number;
  firstTimestamp: string;
  lastTimestamp: string;
  source: { component: string };
  reportingComponent: string;
  spec?: unknown;
}

const MINUTE = 60_000;

describe("EventRecorder", () => {
  let dir: string;
  const kinds = new KindRegistry();
  const logger = pino({ level: "silent" });
  let clock = Date.parse("2026-01-01T00:00:00Z");
  const open = async (maxResources = 100) => {
    const store = new ResourceStore({
      dataDir: await mkdtemp(join(dir, "store-")),
      kinds,
      logger,
      maxResources,
    });
    await store.load();
    return store;
  };
  const configMap = async (store: ResourceStore, name: string, namespace = "default") => {
    const { manifest, problems } = validateManifest(kinds, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name, namespace },
      data: { a: "1" },
    });
    assert.ok(manifest, JSON.stringify(problems));
    const [applied] = await store.apply([manifest]);
    return applied!;
  };
  const events = (store: ResourceStore, namespace?: string): CoreEventResource[] =>
    store.list(coreKinds.event, namespace);
  const ready = (status: "True" | "False" | "Unknown", reason?: string, message?: string) => ({
    conditions: [
      {
        type: "Ready",
        status,
        lastTransitionTime: "2026-01-01T00:00:00Z",
        ...(reason ? { reason } : {}),
        ...(message ? { message } : {}),
      },
    ],
  });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "herald-events-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("records a Ready change once per change: Warning for False, Normal for True, none when unchanged", async () => {
    const store = await open();
    const recorder = new EventRecorder({ store, logger, now: () => clock, instance: "test" });
    const involved = await configMap(store, "settings");
    recorder.statusChanged(involved, {}, ready("False", "BrokerDoesNotExist", "Broker default/x not found"));
    recorder.statusChanged(
      involved,
      ready("False", "BrokerDoesNotExist", "Broker default/x not found, again"),
      ready("False", "BrokerDoesNotExist", "Broker default/x not found"),
    );
    recorder.statusChanged(involved, ready("False", "BrokerDoesNotExist"), ready("Unknown"));
    await recorder.prune();
    assert.equal(events(store).length, 1, "the same Ready status and reason records nothing");
    const [warning] = events(store);
    assert.deepEqual(
      {
        type: warning!.spec.type,
        reason: warning!.spec.reason,
        message: warning!.spec.message,
        count: warning!.spec.count,
      },
      { type: "Warning", reason: "BrokerDoesNotExist", message: "Broker default/x not found", count: 1 },
    );
    assert.deepEqual(warning!.spec.involvedObject, {
      apiVersion: "v1",
      kind: "ConfigMap",
      name: "settings",
      namespace: "default",
      uid: involved.metadata.uid,
      resourceVersion: involved.metadata.resourceVersion,
    });
    assert.deepEqual(warning!.spec.source, { component: "herald" });
    assert.equal(warning!.spec.reportingInstance, "test");
    assert.match(warning!.metadata.name, /^settings\.[0-9a-f]+$/);
    recorder.statusChanged(involved, ready("False", "BrokerDoesNotExist"), ready("True"));
    await recorder.prune();
    const normal = events(store).find((event) => event.spec.type === "Normal");
    assert.equal(normal?.spec.reason, "Ready");
    assert.equal(normal?.spec.message, "ConfigMap settings is ready");
    await recorder.close();
  });

  it("counts a repeat on the same Event and moves lastTimestamp, as Kubernetes' correlator does", async () => {
    const store = await open();
    const recorder = new EventRecorder({ store, logger, now: () => clock });
    const involved = await configMap(store, "repeated");
    const draft = { type: "Warning", reason: "BackendUnavailable", message: "Kafka is down" } as const;
    recorder.record(involved, draft);
    await recorder.prune();
    clock += MINUTE;
    recorder.record(involved, draft);
    // Twice in one turn: one write, counted twice.
    recorder.record(involved, draft);
    await recorder.prune();
    const [event, ...others] = events(store);
    assert.equal(others.length, 0);
    assert.equal(event!.spec.count, 3);
    assert.equal(Date.parse(event!.spec.lastTimestamp!) - Date.parse(event!.spec.firstTimestamp!), MINUTE);
    recorder.record(involved, { ...draft, message: "Kafka is down again" });
    await recorder.prune();
    assert.equal(events(store).length, 2, "another message is another Event");
    await recorder.close();
  });

  it("deletes Events not seen for the time to live, and the least recently seen beyond a namespace's limit", async () => {
    const store = await open();
    const recorder = new EventRecorder({ store, logger, now: () => clock, maxPerNamespace: 3 });
    const old = await configMap(store, "old", "team-a");
    recorder.record(old, { type: "Normal", reason: "Ready", message: "old" });
    await recorder.prune();
    clock += 59 * MINUTE;
    const involved = await configMap(store, "busy", "team-a");
    for (let index = 0; index < 3; index++) {
      clock += 1000;
      recorder.record(involved, { type: "Normal", reason: "Ready", message: `busy ${index}` });
      await recorder.prune();
    }
    // Four in team-a, over the limit of three: the least recently seen ("old") goes.
    assert.deepEqual(
      events(store, "team-a")
        .map((e) => e.spec.message)
        .sort(),
      ["busy 0", "busy 1", "busy 2"],
    );
    const elsewhere = await configMap(store, "elsewhere", "team-b");
    recorder.record(elsewhere, { type: "Normal", reason: "Ready", message: "elsewhere" });
    await recorder.prune();
    assert.equal(events(store, "team-b").length, 1, "the limit is per namespace");
    clock += 61 * MINUTE;
    recorder.record(elsewhere, { type: "Normal", reason: "Ready", message: "elsewhere" });
    await recorder.prune();
    assert.deepEqual(
      events(store).map((e) => `${e.metadata.namespace}: ${e.spec.message} x${e.spec.count}`),
      ["team-b: elsewhere x2"],
      "an hour after they were last seen, Events are deleted; one seen again stays",
    );
    await recorder.close();
  });

  it("Events do not count towards the store's resource limit", async () => {
    const store = await open(1);
    const recorder = new EventRecorder({ store, logger, now: () => clock });
    const involved = await configMap(store, "only");
    for (let index = 0; index < 5; index++)
      recorder.record(involved, { type: "Normal", reason: "Ready", message: `${index}` });
    await recorder.prune();
    assert.equal(events(store).length, 5);
    await assert.rejects(configMap(store, "second"), /at most 1 resources/);
    await recorder.close();
  });
});

describe("Events of Herald's resources", () => {
  let herald: InProcessHerald;
  let sink: Receiver;
  const triggerEvents = async (name: string, extra = "") => {
    const { status, body } = await herald.get<{ items: EventBody[] }>(
      `/api/v1/namespaces/default/events?fieldSelector=involvedObject.kind%3DTrigger,involvedObject.name%3D${name}${extra}`,
    );
    assert.equal(status, 200, JSON.stringify(body));
    return body.items;
  };

  before(async () => {
    herald = await InProcessHerald.start();
    sink = await startReceiver();
  });
  after(async () => {
    await herald.close();
    await sink.close();
  });

  it("a Trigger whose Broker is missing gets a Warning, a Normal once Ready, and the Warning counted again", async () => {
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: orders }
spec: { broker: shop, subscriber: { uri: "${sink.url}" } }
`);
    const [warning] = await eventually(async () => {
      const items = await triggerEvents("orders");
      return items.length === 1 && items;
    });
    assert.equal(warning!.type, "Warning");
    assert.equal(warning!.reason, "BrokerDoesNotExist");
    assert.equal(warning!.message, "Broker default/shop not found");
    assert.equal(warning!.count, 1);
    assert.equal(warning!.source.component, "herald");
    assert.equal(warning!.spec, undefined, "an Event's fields are at the top level, as in Kubernetes");
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: shop }
`);
    const normal = await eventually(async () =>
      (await triggerEvents("orders")).find((event) => event.type === "Normal"),
    );
    assert.equal(normal.reason, "Ready");
    assert.equal(await herald.delete("/apis/eventing.knative.dev/v1/namespaces/default/brokers/shop"), 200);
    await eventually(
      async () =>
        (await triggerEvents("orders", ",type%3DWarning")).map((event) => event.count).join() === "2",
      { message: "the Warning counted twice" },
    );
    const warnings = await triggerEvents("orders", ",type%3DWarning,reason%3DBrokerDoesNotExist");
    assert.equal(warnings.length, 1);
    assert.deepEqual(await triggerEvents("orders", ",type%3DWarning,reason%3DOther"), []);
    assert.deepEqual(await triggerEvents("other"), []);
    const { body: trigger } = await herald.get<{ metadata: { uid: string } }>(
      "/apis/eventing.knative.dev/v1/namespaces/default/triggers/orders",
    );
    assert.equal((await triggerEvents("orders", `,involvedObject.uid%3D${trigger.metadata.uid}`)).length, 2);
    assert.deepEqual(await triggerEvents("orders", ",involvedObject.uid%3Danother-uid"), []);
  });

  it("refuses a field Events cannot be selected by, naming it", async () => {
    const response = await fetch(
      `${herald.apiUrl}/api/v1/namespaces/default/events?fieldSelector=spec.reason%3DX`,
    );
    assert.equal(response.status, 422);
    assert.match(
      await response.text(),
      /fieldSelector spec\.reason is not supported for events: use .*involvedObject\.name/,
    );
    const brokers = await fetch(
      `${herald.apiUrl}/apis/eventing.knative.dev/v1/namespaces/default/brokers?fieldSelector=involvedObject.name%3Dx`,
    );
    assert.equal(brokers.status, 422, "involvedObject.* selects Events only");
    await brokers.body?.cancel();
  });

  it("takes Events written through the API, validated field by field", async () => {
    const post = (body: unknown) =>
      fetch(`${herald.apiUrl}/api/v1/namespaces/default/events`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ apiVersion: "v1", kind: "Event", ...(body as object) }),
      });
    const refused = await post({
      metadata: { name: "bad" },
      involvedObject: { kind: "Broker" },
      type: "Error",
      lastTimestamp: "yesterday",
    });
    assert.equal(refused.status, 422);
    const text = await refused.text();
    assert.match(text, /involvedObject\.name: is required/);
    assert.match(text, /type: must be one of \\"Normal\\", \\"Warning\\"/);
    assert.match(text, /lastTimestamp: must be an RFC 3339 time/);
    const created = await post({
      metadata: { name: "deploy.1" },
      involvedObject: {
        apiVersion: "eventing.knative.dev/v1",
        kind: "Broker",
        name: "shop",
        namespace: "default",
      },
      reason: "Deployed",
      message: "by the pipeline",
      type: "Normal",
      eventTime: null,
      source: { component: "pipeline" },
    });
    assert.equal(created.status, 201, await created.clone().text());
    const body = (await created.json()) as EventBody & { eventTime?: unknown };
    assert.equal(body.reason, "Deployed");
    assert.equal("eventTime" in body, false, "a null timestamp is an absent one");
    const { body: listed } = await herald.get<{ items: EventBody[] }>(
      "/api/v1/namespaces/default/events?fieldSelector=source%3Dpipeline",
    );
    assert.deepEqual(
      listed.items.map((event) => event.metadata.name),
      ["deploy.1"],
    );
  });

  it("ApiServerSource over v1 Event becomes Ready and sends the Events Herald records", async () => {
    await herald.apply(`
apiVersion: sources.knative.dev/v1
kind: ApiServerSource
metadata: { name: k8s-events }
spec:
  serviceAccountName: event-watcher
  mode: Resource
  resources: [{ apiVersion: v1, kind: Event }]
  sink: { uri: "${sink.url}" }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: payments }
spec: { broker: missing, subscriber: { uri: "${sink.url}" } }
`);
    const { body: source } = await eventually(async () => {
      const answer = await herald.get<{ status: { conditions?: { type: string; status: string }[] } }>(
        "/apis/sources.knative.dev/v1/namespaces/default/apiserversources/k8s-events",
      );
      return answer.body.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") && answer;
    });
    assert.ok(source);
    const added = await eventually(() =>
      sink.requests.find((request) => {
        if (request.headers["ce-type"] !== "dev.knative.apiserver.resource.add") return false;
        const data = JSON.parse(request.body.toString()) as EventBody;
        return data.involvedObject.name === "payments" && data;
      }),
    );
    assert.match(String(added.headers["ce-subject"]), /^\/api\/v1\/namespaces\/default\/events\/payments\./);
    const data = JSON.parse(added.body.toString()) as EventBody & { kind: string };
    assert.equal(data.kind, "Event");
    assert.equal(data.reason, "BrokerDoesNotExist");
    assert.equal(data.type, "Warning");
  });
});
