import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { selects } from "../../sources/apiserver/index.js";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/**
 * ApiServerSource over Herald's own resources: Knative's lifecycle event types in Reference and
 * Resource mode, label selectors, and a clear not-Ready for kinds Herald does not serve.
 */
interface Status {
  status: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

const corpus = resolve(dirname(fileURLToPath(import.meta.url)), "../../../shared/knative-manifests");

describe("ApiServerSource", () => {
  let herald: InProcessHerald;
  let sink: Receiver;
  const path = (name: string) => `/apis/sources.knative.dev/v1/namespaces/default/apiserversources/${name}`;
  const events = (type: string) => sink.requests.filter((r) => r.headers["ce-type"] === type);

  before(async () => {
    herald = await InProcessHerald.start();
    sink = await startReceiver();
  });
  after(async () => {
    await herald.close();
    await sink.close();
  });

  it("sends ref.add, ref.update and ref.delete for the Brokers its selector selects", async () => {
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: watched-early, labels: { team: payments } }
---
apiVersion: sources.knative.dev/v1
kind: ApiServerSource
metadata: { name: brokers }
spec:
  serviceAccountName: events-sa
  mode: Reference
  resources:
    - apiVersion: eventing.knative.dev/v1
      kind: Broker
      selector:
        matchExpressions: [{ key: team, operator: In, values: [payments, billing] }]
  sink: { uri: "${sink.url}" }
`);
    // Resources that exist when the source starts are sent as adds, as Knative's informers do.
    await eventually(() => events("dev.knative.apiserver.ref.add").length === 1, {
      message: "the first add",
    });
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: watched, labels: { team: billing } }
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: ignored, labels: { team: other } }
`);
    await eventually(() => events("dev.knative.apiserver.ref.add").length === 2, {
      message: "the second add",
    });
    const added = events("dev.knative.apiserver.ref.add")[1]!;
    assert.equal(
      added.headers["ce-subject"],
      "/apis/eventing.knative.dev/v1/namespaces/default/brokers/watched",
    );
    assert.equal(added.headers["ce-source"], herald.url);
    assert.deepEqual(JSON.parse(added.body.toString()), {
      kind: "Broker",
      namespace: "default",
      name: "watched",
      apiVersion: "eventing.knative.dev/v1",
    });
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: watched, labels: { team: billing } }
spec: { delivery: { retry: 2 } }
`);
    await eventually(
      () =>
        events("dev.knative.apiserver.ref.update").some(
          (r) =>
            r.headers["ce-subject"] === "/apis/eventing.knative.dev/v1/namespaces/default/brokers/watched",
        ),
      { message: "the update" },
    );
    assert.equal(
      await herald.delete("/apis/eventing.knative.dev/v1/namespaces/default/brokers/watched"),
      200,
    );
    await eventually(() => events("dev.knative.apiserver.ref.delete").length === 1, {
      message: "the delete",
    });
    const subjects = sink.requests.map((r) => String(r.headers["ce-subject"]));
    assert.ok(
      !subjects.some((s) => s.endsWith("/ignored")),
      "a Broker the selector leaves out sends nothing",
    );
    const { body } = await herald.get<Status>(path("brokers"));
    assert.equal(body.status.conditions?.find((c) => c.type === "Ready")?.status, "True");
  });

  it("mode Resource sends the whole resource as data", async () => {
    await herald.apply(`
apiVersion: sources.knative.dev/v1
kind: ApiServerSource
metadata: { name: configmaps }
spec:
  mode: Resource
  resources: [{ apiVersion: v1, kind: ConfigMap, selector: { matchLabels: { watch: "yes" } } }]
  sink: { uri: "${sink.url}" }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: settings, labels: { watch: "yes" } }
data: { colour: blue }
`);
    await eventually(() => events("dev.knative.apiserver.resource.add").length === 1, { message: "the add" });
    const [added] = events("dev.knative.apiserver.resource.add");
    assert.equal(added!.headers["ce-subject"], "/api/v1/namespaces/default/configmaps/settings");
    const data = JSON.parse(added!.body.toString()) as { kind: string; spec: Record<string, string> };
    assert.equal(data.kind, "ConfigMap");
    assert.deepEqual(data.spec, { colour: "blue" });
  });

  it("the published sample over v1 Events is Ready; a kind Herald does not serve keeps a source not Ready, naming it; Secrets are never watched", async () => {
    const sample = readFileSync(
      join(corpus, "knative/docs/code-samples/eventing/kafka/channel/README.md.block5.yaml"),
      "utf8",
    );
    await herald.apply(`${sample.replace(/sink:[\s\S]*$/, `sink: { uri: "${sink.url}" }`)}
---
apiVersion: sources.knative.dev/v1
kind: ApiServerSource
metadata: { name: pods }
spec:
  resources: [{ apiVersion: v1, kind: Pod }]
  sink: { uri: "${sink.url}" }
---
apiVersion: sources.knative.dev/v1
kind: ApiServerSource
metadata: { name: secrets }
spec:
  resources: [{ apiVersion: v1, kind: Secret }]
  sink: { uri: "${sink.url}" }
`);
    const reason = (name: string) =>
      eventually(async () => {
        const { body } = await herald.get<Status>(path(name));
        const ready = body.status.conditions?.find((c) => c.type === "Ready");
        return ready?.status === "False" && ready;
      });
    await eventually(async () => {
      const { body } = await herald.get<Status>(path("testevents-kafka-03"));
      return body.status.conditions?.some((c) => c.type === "Ready" && c.status === "True");
    });
    assert.match((await reason("pods")).message ?? "", /spec\.resources\[0\]: Herald serves no v1 Pod/);
    assert.match((await reason("secrets")).message ?? "", /Secrets are not watched/);
  });

  it("spec.filters sends only the events they match, and an invalid one is refused at apply", async () => {
    const filtered = await startReceiver();
    try {
      await herald.apply(`
apiVersion: sources.knative.dev/v1
kind: ApiServerSource
metadata: { name: adds-only }
spec:
  filters:
    - any:
        - exact: { type: dev.knative.apiserver.ref.add }
  mode: Reference
  resources: [{ apiVersion: eventing.knative.dev/v1, kind: Trigger }]
  sink: { uri: "${filtered.url}" }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: watched-trigger }
spec: { broker: default, subscriber: { uri: "http://127.0.0.1:9/" } }
`);
      await eventually(() => filtered.requests.length === 1, { message: "the add" });
      assert.equal(
        await herald.delete("/apis/eventing.knative.dev/v1/namespaces/default/triggers/watched-trigger"),
        200,
      );
      // The delete event is made and counted as filtered out, never sent.
      await eventually(
        async () => {
          const metrics = await (await fetch(`${herald.apiUrl}/metrics`)).text();
          return /herald_source_events_total\{[^}]*name="adds-only"[^}]*outcome="filtered"\} 1/.test(metrics);
        },
        { message: "the delete event to be filtered out" },
      );
      assert.deepEqual(
        filtered.requests.map((r) => r.headers["ce-type"]),
        ["dev.knative.apiserver.ref.add"],
      );
      const text = await herald.applyRejected(`
apiVersion: sources.knative.dev/v1
kind: ApiServerSource
metadata: { name: bad-filter }
spec:
  filters: [{ cesql: "type = " }]
  resources: [{ apiVersion: eventing.knative.dev/v1, kind: Trigger }]
  sink: { uri: "${filtered.url}" }
`);
      assert.match(text, /spec\.filters\[0\]\.cesql/);
    } finally {
      await filtered.close();
    }
  });

  it("label selectors follow Kubernetes' rules", () => {
    const labels = { app: "myapp", tier: "web" };
    assert.equal(selects(undefined, labels), true);
    assert.equal(selects({ matchLabels: { app: "myapp" } }, labels), true);
    assert.equal(selects({ matchLabels: { app: "other" } }, labels), false);
    assert.equal(
      selects({ matchExpressions: [{ key: "app", operator: "In", values: ["myapp", "yourapp"] }] }, labels),
      true,
    );
    assert.equal(
      selects({ matchExpressions: [{ key: "app", operator: "NotIn", values: ["myapp"] }] }, labels),
      false,
    );
    assert.equal(
      selects({ matchExpressions: [{ key: "zone", operator: "NotIn", values: ["a"] }] }, labels),
      true,
    );
    assert.equal(selects({ matchExpressions: [{ key: "tier", operator: "Exists" }] }, labels), true);
    assert.equal(selects({ matchExpressions: [{ key: "tier", operator: "DoesNotExist" }] }, labels), false);
    assert.equal(
      selects({ matchExpressions: [{ key: "zone", operator: "In", values: ["a"] }] }, labels),
      false,
    );
  });
});
