import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ConfigError, loadConfig } from "../../src/config.js";
import { defaultPlugins } from "../../src/default-plugins.js";
import { configSlicesOf } from "../../src/plugins.js";
import { eventually } from "../support/eventually.js";
import { InProcessHerald, postEvent } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/**
 * Sinks that reference a Kubernetes Service or a Knative Service resolve by the service URL rule
 * (a template of {name} and {namespace}); a SinkMapping gives one referenced thing its own URL; a
 * reference to anything else Herald does not run keeps its resource not Ready, saying how to map it.
 */
interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface Stored {
  status: {
    conditions?: Condition[];
    physicalSubscription?: { subscriberUri?: string; replyUri?: string; deadLetterSinkUri?: string };
    subscriberUri?: string;
    sinkUri?: string;
  };
}
const condition = (resource: Stored, type: string) =>
  resource.status.conditions?.find((c) => c.type === type);

describe("Service sinks", () => {
  let herald: InProcessHerald;
  let services: Receiver;
  let mapped: Receiver;
  const get = async (path: string) => (await herald.get<Stored>(path)).body;

  before(async () => {
    services = await startReceiver();
    mapped = await startReceiver();
    herald = await InProcessHerald.start({
      config: { serviceUrlTemplate: `${services.url}{namespace}/{name}/` },
    });
  });
  after(async () => {
    await herald.close();
    await services.close();
    await mapped.close();
  });

  it("delivers to a v1 Service and a Knative Service at the URL the service rule gives, uri relative to it", async () => {
    await herald.apply(`
apiVersion: messaging.knative.dev/v1
kind: InMemoryChannel
metadata: { name: orders, namespace: shop }
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: to-display, namespace: shop }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, name: orders }
  subscriber:
    ref: { apiVersion: v1, kind: Service, name: display }
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: to-ksvc, namespace: shop }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, name: orders }
  subscriber:
    ref: { apiVersion: serving.knative.dev/v1, kind: Service, name: billing, namespace: finance }
    uri: hooks/orders
`);
    const display = await get("/apis/messaging.knative.dev/v1/namespaces/shop/subscriptions/to-display");
    assert.equal(display.status.physicalSubscription?.subscriberUri, `${services.url}shop/display/`);
    assert.equal(condition(display, "Ready")?.status, "True");
    const ksvc = await get("/apis/messaging.knative.dev/v1/namespaces/shop/subscriptions/to-ksvc");
    assert.equal(
      ksvc.status.physicalSubscription?.subscriberUri,
      `${services.url}finance/billing/hooks/orders`,
    );
    assert.equal(await postEvent(herald.channelUrl("orders", "shop"), { id: "order-1" }), 202);
    await eventually(
      () =>
        services.requests.some((r) => r.url === "/shop/display/" && r.headers["ce-id"] === "order-1") &&
        services.requests.some(
          (r) => r.url === "/finance/billing/hooks/orders" && r.headers["ce-id"] === "order-1",
        ),
      { message: "the event at both services" },
    );
  });

  it("keeps a reference to a kind Herald does not run not Ready, saying how to map it, until a SinkMapping names it", async () => {
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: default, namespace: jobs }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: to-job, namespace: jobs }
spec:
  broker: default
  subscriber:
    ref: { apiVersion: eventing.knative.dev/v1alpha1, kind: RequestReply, name: job-sink }
---
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: { name: ping, namespace: jobs }
spec:
  schedule: "0 0 1 1 *"
  sink:
    ref: { apiVersion: eventing.knative.dev/v1alpha1, kind: RequestReply, name: job-sink }
`);
    const trigger = await get("/apis/eventing.knative.dev/v1/namespaces/jobs/triggers/to-job");
    assert.equal(condition(trigger, "Ready")?.status, "False");
    assert.match(
      condition(trigger, "SubscriberResolved")?.message ?? "",
      /Herald does not run eventing\.knative\.dev\/v1alpha1 RequestReply: give RequestReply jobs\/job-sink a URL with a SinkMapping \(messaging\.herald\.dev\/v1alpha1\) in namespace jobs, or use a uri/,
    );
    const ping = await get("/apis/sources.knative.dev/v1/namespaces/jobs/pingsources/ping");
    assert.deepEqual(
      [condition(ping, "SinkProvided")?.status, condition(ping, "SinkProvided")?.reason],
      ["False", "NotMapped"],
    );

    await herald.apply(`
apiVersion: messaging.herald.dev/v1alpha1
kind: SinkMapping
metadata: { name: job-sink, namespace: jobs }
spec:
  ref: { apiVersion: eventing.knative.dev/v1, kind: RequestReply, name: job-sink }
  uri: ${mapped.url}jobs
`);
    const ready = await get("/apis/eventing.knative.dev/v1/namespaces/jobs/triggers/to-job");
    assert.equal(condition(ready, "Ready")?.status, "True", JSON.stringify(ready.status.conditions));
    assert.equal(
      ready.status.subscriberUri,
      `${mapped.url}jobs`,
      "matched by group, kind and name, any version",
    );
    const sinking = await get("/apis/sources.knative.dev/v1/namespaces/jobs/pingsources/ping");
    assert.equal(sinking.status.sinkUri, `${mapped.url}jobs`);
    assert.equal(await postEvent(`${herald.url}/brokers/jobs/default`, { id: "job-1" }), 202);
    await eventually(() => mapped.requests.some((r) => r.headers["ce-id"] === "job-1"), {
      message: "the event at the mapped URL",
    });
  });

  it("lets a SinkMapping override the service rule for one Service of its namespace", async () => {
    await herald.apply(`
apiVersion: messaging.herald.dev/v1alpha1
kind: SinkMapping
metadata: { name: display, namespace: shop }
spec:
  ref: { apiVersion: serving.knative.dev/v1, kind: Service, name: display }
  uri: ${mapped.url}display/
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: to-mapped, namespace: shop }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, name: orders }
  subscriber:
    ref: { apiVersion: serving.knative.dev/v1, kind: Service, name: display }
    uri: events
`);
    const overridden = await get("/apis/messaging.knative.dev/v1/namespaces/shop/subscriptions/to-mapped");
    assert.equal(overridden.status.physicalSubscription?.subscriberUri, `${mapped.url}display/events`);
    const ruled = await get("/apis/messaging.knative.dev/v1/namespaces/shop/subscriptions/to-display");
    assert.equal(
      ruled.status.physicalSubscription?.subscriberUri,
      `${services.url}shop/display/`,
      "a mapping of serving.knative.dev Service display leaves v1 Service display to the rule",
    );
  });

  it("reports a missing Broker sink as NotFound, not as a kind to map", async () => {
    await herald.apply(`
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: { name: lost }
spec:
  schedule: "0 0 1 1 *"
  sink: { ref: { apiVersion: eventing.knative.dev/v1, kind: Broker, name: nowhere } }
`);
    const ping = await get("/apis/sources.knative.dev/v1/namespaces/default/pingsources/lost");
    assert.deepEqual(
      [condition(ping, "SinkProvided")?.reason, condition(ping, "SinkProvided")?.message],
      ["NotFound", "Broker default/nowhere not found"],
    );
  });

  it("refuses a SinkMapping without an absolute URL", async () => {
    const text = await herald.applyRejected(`
apiVersion: messaging.herald.dev/v1alpha1
kind: SinkMapping
metadata: { name: bad }
spec:
  ref: { apiVersion: v1, kind: Service, name: bad }
  uri: /relative
`);
    assert.match(text, /spec\.uri: must be an absolute http or https URL/);
  });
});

describe("the service URL rule", () => {
  const slices = configSlicesOf(defaultPlugins);

  it("defaults to http://{name}, where a service answers in a docker-compose network", () => {
    assert.equal(loadConfig({}, {}, slices).serviceUrlTemplate, "http://{name}");
    assert.equal(
      loadConfig({}, { HERALD_SERVICE_URL_TEMPLATE: "http://{name}.{namespace}.svc.cluster.local" }, slices)
        .serviceUrlTemplate,
      "http://{name}.{namespace}.svc.cluster.local",
    );
  });

  it("refuses a template without {name} or that is not an http URL, naming the variable", () => {
    for (const template of ["http://display", "ftp://{name}", "{name}"])
      assert.throws(
        () => loadConfig({}, { HERALD_SERVICE_URL_TEMPLATE: template }, slices),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.problems.some((p) => p.startsWith("serviceUrlTemplate (HERALD_SERVICE_URL_TEMPLATE)")),
        template,
      );
  });
});
