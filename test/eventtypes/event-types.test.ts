import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli } from "../support/cli.js";
import { eventually } from "../support/eventually.js";
import { InProcessHerald, postEvent } from "../support/herald.js";

const CORPUS = join(
  import.meta.dirname,
  "../../../shared/knative-manifests/knative/docs/docs/versioned/eventing",
);

interface EventType {
  apiVersion: string;
  metadata: {
    name: string;
    annotations?: Record<string, string>;
    ownerReferences?: Array<{ kind: string; name: string }>;
  };
  spec: {
    attributes: Array<{ name: string; value?: string; required: boolean }>;
    reference?: { kind: string; name: string };
    description?: string;
  };
  status?: { conditions?: Array<{ type: string; status: string; reason?: string }> };
}

const LIST = "/apis/eventing.knative.dev/v1beta3/namespaces/default/eventtypes";

async function herald(server: string, ...args: string[]): Promise<string> {
  const run = await runCli(["--server", server, ...args]);
  assert.equal(run.code, 0, run.stderr);
  return run.stdout;
}

describe("EventType", () => {
  let plain: InProcessHerald;
  let observing: InProcessHerald;

  before(async () => {
    plain = await InProcessHerald.start();
    observing = await InProcessHerald.start({ env: { HERALD_EVENTTYPE_AUTO_CREATE: "true" } });
  });
  after(async () => {
    await plain.close();
    await observing.close();
  });

  it("stores a v1beta2 EventType (corpus event registry) as v1beta3 attributes, Ready once its Broker exists", async () => {
    const document = readFileSync(join(CORPUS, "event-registry/README.md.block0.yaml"), "utf8");
    await plain.apply(document);
    const path = `${LIST}/dev.knative.source.github.push-34cnb`;
    const { body } = await plain.get<EventType>(path);
    assert.equal(body.apiVersion, "eventing.knative.dev/v1beta3");
    assert.deepEqual(
      body.spec.attributes.map((a) => [a.name, a.value ?? null]),
      [
        ["specversion", null],
        ["id", null],
        ["type", "dev.knative.source.github.push"],
        ["source", "https://github.com/knative/eventing"],
      ],
    );
    assert.deepEqual(body.spec.reference, {
      apiVersion: "eventing.knative.dev/v1",
      kind: "Broker",
      name: "default",
    });
    const reference = (status: EventType["status"]) =>
      status?.conditions?.find((c) => c.type === "ReferenceExists");
    assert.equal(reference(body.status)?.reason, "ResourceDoesNotExist");

    await plain.apply("apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata:\n  name: default\n");
    await eventually(
      async () => reference((await plain.get<EventType>(path)).body.status)?.status === "True",
    );

    const listed = await herald(plain.apiUrl, "get", "eventtypes");
    assert.match(listed, /^NAME +READY +REASON +TYPE +SOURCE +REFERENCE +AGE$/m);
    assert.match(
      listed,
      /^dev\.knative\.source\.github\.push-34cnb +True +dev\.knative\.source\.github\.push +https:\/\/github\.com\/knative\/eventing +Broker\/default /m,
    );

    // kubectl's table: Knative's EventType columns.
    const response = await fetch(`${plain.apiUrl}${LIST}`, {
      headers: { accept: "application/json;as=Table;v=v1;g=meta.k8s.io" },
    });
    const table = (await response.json()) as {
      columnDefinitions: Array<{ name: string }>;
      rows: Array<{ cells: unknown[] }>;
    };
    assert.deepEqual(
      table.columnDefinitions.map((c) => c.name),
      ["Name", "Type", "Source", "Reference Name", "Reference Kind", "Description", "Ready", "Reason"],
    );
    assert.deepEqual(table.rows[0]!.cells.slice(0, 5), [
      "dev.knative.source.github.push-34cnb",
      "dev.knative.source.github.push",
      "https://github.com/knative/eventing",
      "default",
      "Broker",
    ]);
  });

  it("keeps an applied EventType whose ownerReferences name something Herald does not hold", async () => {
    await plain.apply(`
apiVersion: eventing.knative.dev/v1beta3
kind: EventType
metadata:
  name: copied
  ownerReferences:
    - { apiVersion: eventing.knative.dev/v1, kind: Broker, name: elsewhere, uid: 0b6c6a3e-0000-4000-8000-000000000000 }
spec:
  attributes:
    - { name: type, value: dev.herald.copied, required: true }
    - { name: source, value: /copied, required: true }
    - { name: specversion, value: "1.0", required: true }
    - { name: id, required: true }
`);
    await plain.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: another-pass\ndata: {}\n");
    assert.equal((await plain.get(`${LIST}/copied`)).status, 200);
  });

  it("refuses a v1beta3 EventType without the required attributes", async () => {
    const refused = await plain.applyRejected(`
apiVersion: eventing.knative.dev/v1beta3
kind: EventType
metadata:
  name: partial
spec:
  attributes:
    - name: type
      value: dev.herald.partial
      required: true
`);
    assert.match(refused, /spec\.attributes: missing attributes: source, specversion, id/);
  });

  it("creates an EventType per type and source a Broker accepts, when auto-creation is on, and deletes them with it", async () => {
    await observing.apply("apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata:\n  name: observed\n");
    const broker = `${observing.url}/brokers/default/observed`;
    await eventually(
      async () => (await postEvent(broker, { type: "dev.herald.order", source: "/shop" })) === 202,
    );
    assert.equal(await postEvent(broker, { type: "dev.herald.order", source: "/shop" }), 202);
    assert.equal(await postEvent(broker, { type: "dev.herald.refund", source: "/shop" }), 202);
    const items = await eventually(async () => {
      const { body } = await observing.get<{ items: EventType[] }>(LIST);
      return body.items.length === 2 && body.items;
    });
    const types = items.map((item) => item.spec.attributes.find((a) => a.name === "type")?.value).sort();
    assert.deepEqual(types, ["dev.herald.order", "dev.herald.refund"]);
    for (const item of items) {
      assert.match(item.metadata.name, /^et-observed-[0-9a-f]{32}$/);
      assert.deepEqual(item.spec.reference, {
        apiVersion: "eventing.knative.dev/v1",
        kind: "Broker",
        name: "observed",
        namespace: "default",
      });
      assert.equal(item.metadata.ownerReferences?.[0]?.name, "observed");
      assert.equal(item.spec.description, "Event Type auto-created by controller");
      assert.equal(item.metadata.annotations?.["herald.dev/auto-created"], "true");
    }
    // Without the setting, nothing is created.
    await plain.apply("apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata:\n  name: quiet\n");
    await eventually(
      async () =>
        (await postEvent(`${plain.url}/brokers/default/quiet`, { type: "dev.herald.quiet" })) === 202,
    );
    const { body } = await plain.get<{ items: EventType[] }>(LIST);
    assert.deepEqual(
      body.items.filter((item) => item.metadata.name.startsWith("et-quiet")),
      [],
    );

    assert.equal(
      await observing.delete("/apis/eventing.knative.dev/v1/namespaces/default/brokers/observed"),
      200,
    );
    await eventually(async () => (await observing.get<{ items: EventType[] }>(LIST)).body.items.length === 0);
  });
});
