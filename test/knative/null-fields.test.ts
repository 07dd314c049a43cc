import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { defaultPlugins } from "../../src/default-plugins.js";
import { HeraldError } from "../../src/errors.js";
import { kindsOf } from "../../src/plugins.js";
import { readManifests } from "../../src/resources/validation.js";

/**
 * Fields left empty in a manifest (`annotations:` or `delivery:` with nothing, or only a comment,
 * under them) are null in YAML; the API server prunes such nulls from a custom resource and reads a
 * null ObjectMeta map as none, so Knative accepts these documents as if the field were absent
 * (eventing-rabbitmq's rabbitmq-mtls sample, the sender-identity page of Knative's docs). A field
 * a Knative CRD declares is accepted even when Herald has no use for it.
 */
const kinds = kindsOf(defaultPlugins);

describe("null fields, as the Kubernetes API server prunes them", () => {
  it("an empty annotations: and an empty delivery: apply as absent fields", () => {
    const { manifests } = readManifests(
      kinds,
      `
apiVersion: rabbitmq.com/v1beta1
kind: RabbitmqCluster
metadata:
  name: rabbitmq
  annotations:
spec:
  replicas: 1
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: br }
spec:
  config:
    # ...
  delivery:
    # ...
`,
    );
    assert.deepEqual(
      manifests.map((m) => [m.kind, m.metadata.annotations, m.spec.delivery]),
      [
        ["RabbitmqCluster", undefined, undefined],
        ["Broker", undefined, undefined],
      ],
    );
  });

  it("a null inside a list is not pruned, and a value of the wrong type is still refused with its path", () => {
    assert.throws(
      () =>
        readManifests(
          kinds,
          `
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: br }
spec:
  delivery: "..."
`,
        ),
      (error: unknown) =>
        error instanceof HeraldError && /spec\.delivery: must be object/.test(error.message),
    );
    assert.throws(
      () =>
        readManifests(
          kinds,
          `
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: tr }
spec:
  broker: default
  filters: [null]
  subscriber: { uri: "http://127.0.0.1:1/" }
`,
        ),
      (error: unknown) => error instanceof HeraldError && /spec\.filters\[0\]/.test(error.message),
    );
  });
});

describe("fields Knative's CRDs take and Herald has no use for", () => {
  it("a RabbitmqSource's adapterContainerName (eventing-rabbitmq's source docs) is accepted", () => {
    const { manifests } = readManifests(
      kinds,
      `
apiVersion: sources.knative.dev/v1alpha1
kind: RabbitmqSource
metadata: { name: rabbitmq-source }
spec:
  rabbitmqClusterReference: { name: rabbitmq, namespace: default }
  rabbitmqResourcesConfig: { queueName: eventing-rabbitmq-source }
  sink: { uri: "http://127.0.0.1:1/" }
  adapterContainerName: my-rabbitmq-source-adapter
`,
    );
    assert.deepEqual(
      manifests.map((m) => m.kind),
      ["RabbitmqSource"],
    );
  });
});
