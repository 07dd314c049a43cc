import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { z } from "zod";
import { HeraldError } from "../../src/errors.js";
import { defaultPlugins } from "../../src/default-plugins.js";
import { kindsOf } from "../../src/plugins.js";
import { strictSchema } from "../../src/resources/strict.js";
import { parseManifests } from "../../src/resources/validation.js";

/**
 * No field a user writes is dropped silently: unknown fields are refused with their path, as
 * Kubernetes' strict field validation does, for the core kinds and for every plug-in kind.
 */
const kinds = kindsOf(defaultPlugins);

function problemsOf(yaml: string): string[] {
  try {
    parseManifests(kinds, yaml, "test.yaml");
  } catch (error) {
    assert.ok(error instanceof HeraldError, String(error));
    const { problems } = error.details as { problems: { path: string; message: string }[] };
    return problems.map((p) => `${p.path}: ${p.message}`);
  }
  return [];
}

describe("unknown fields", () => {
  it("refuses a Trigger whose filter is misspelt instead of storing it without a filter", () => {
    assert.deepEqual(
      problemsOf(`
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: typo }
spec:
  broker: default
  fliter: { attributes: { type: dev.example } }
  subscriber: { uri: http://127.0.0.1/ }
`),
      ["spec.fliter: unknown field"],
    );
  });

  it("names unknown fields at every depth of the core kinds", () => {
    assert.deepEqual(
      problemsOf(`
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: deep }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: c, nmae: x }
  subscriber:
    ref: { apiVersion: v1, kind: Service, name: s, namespce: other }
  delivery:
    retries: 3
    deadLetterSink: { uri: http://127.0.0.1/dls, url: http://127.0.0.1/ }
`).sort(),
      [
        "spec.channel.nmae: unknown field",
        "spec.delivery.deadLetterSink.url: unknown field",
        "spec.delivery.retries: unknown field",
        "spec.subscriber.ref.namespce: unknown field",
      ],
    );
  });

  it("refuses unknown top-level fields and misspelt metadata, and ignores status", () => {
    assert.deepEqual(
      problemsOf(`
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: top, lables: { a: b } }
sepc: {}
status: { conditions: [{ type: Ready, status: "True" }] }
`).sort(),
      ["metadata.lables: unknown field", "sepc: unknown field"],
    );
  });

  it("accepts the metadata Kubernetes and Herald print, keeping only what Herald uses", () => {
    const [manifest] = parseManifests(
      kinds,
      `
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: printed
  namespace: team
  uid: 6f0a
  resourceVersion: "12"
  generation: 3
  creationTimestamp: null
  selfLink: /apis/eventing.knative.dev/v1/namespaces/team/brokers/printed
  managedFields: [{ manager: kubectl }]
  finalizers: [brokers.eventing.knative.dev]
  ownerReferences: [{ apiVersion: v1, kind: Namespace, name: team, controller: true, blockOwnerDeletion: true }]
  labels: { app: shop }
spec: {}
`,
    );
    assert.ok(manifest);
    assert.equal(manifest.metadata.name, "printed");
    assert.deepEqual(manifest.metadata.labels, { app: "shop" });
    for (const dropped of ["selfLink", "managedFields", "finalizers", "creationTimestamp"])
      assert.ok(!(dropped in manifest.metadata), dropped);
  });

  it("refuses unknown fields of plug-in kinds: sources and channel backends", () => {
    assert.deepEqual(
      problemsOf(`
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: { name: ping }
spec:
  schedule: "* * * * *"
  dta: hello
  sink: { uri: http://127.0.0.1/ }
  ceOverrides: { extensions: { a: b }, extension: {} }
---
apiVersion: messaging.knative.dev/v1beta1
kind: KafkaChannel
metadata: { name: kafka }
spec:
  numPartitions: 1
  replicationFactr: 1
  delivery: { retry: 1, backoff: PT1S }
`).sort(),
      [
        "test.yaml[0].spec.ceOverrides.extension: unknown field",
        "test.yaml[0].spec.dta: unknown field",
        "test.yaml[1].spec.delivery.backoff: unknown field",
        "test.yaml[1].spec.replicationFactr: unknown field",
      ],
    );
  });
});

describe("strictSchema", () => {
  it("makes objects strict at every depth and keeps defaults, refinements and loose objects", () => {
    const schema = strictSchema(
      z
        .object({
          nested: z
            .object({
              value: z.string().default("x"),
              list: z.array(z.object({ n: z.number() })).default([]),
            })
            .prefault({}),
          byName: z.record(z.string(), z.object({ v: z.string() })).optional(),
          either: z.union([z.string(), z.object({ k: z.string() })]).optional(),
          anything: z.looseObject({}).optional(),
        })
        .refine((value) => value.nested.value !== "bad", "bad value"),
    );
    assert.deepEqual(schema.parse({}), { nested: { value: "x", list: [] } });
    const first = schema.parse({});
    first.nested.list.push({ n: 1 });
    assert.deepEqual(schema.parse({}).nested.list, [], "a default is not shared between parses");
    assert.ok(schema.safeParse({ anything: { free: 1 } }).success);
    assert.equal(schema.safeParse({ nested: { value: "bad" } }).error?.issues[0]?.message, "bad value");
    const issues = schema.safeParse({
      top: 1,
      nested: { list: [{ n: 1, m: 2 }] },
      byName: { a: { v: "1", w: 2 } },
    }).error?.issues;
    assert.deepEqual(
      issues?.map((issue) => [issue.path.join("."), issue.code === "unrecognized_keys" ? issue.keys : []]),
      [
        ["nested.list.0", ["m"]],
        ["byName.a", ["w"]],
        ["", ["top"]],
      ],
    );
  });
});
