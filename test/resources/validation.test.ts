import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HeraldError } from "../../src/errors.js";
import { defaultPlugins } from "../../src/default-plugins.js";
import { kindsOf } from "../../src/plugins.js";
import {
  checkManifestLimits,
  MANIFEST_LIMITS,
  parseManifests as parse,
  validateManifest,
} from "../../src/resources/validation.js";

const kinds = kindsOf(defaultPlugins);
const parseManifests = (text: string, source?: string) => parse(kinds, text, source);

function problemsOf(yaml: string): { path: string; message: string }[] {
  try {
    parseManifests(yaml, "test.yaml");
  } catch (error) {
    assert.ok(error instanceof HeraldError);
    assert.equal(error.code, "InvalidResource");
    return (error.details as { problems: { path: string; message: string }[] }).problems;
  }
  assert.fail("expected the manifest to be rejected");
}

describe("manifest validation", () => {
  it("parses multi-document YAML, defaulting the namespace", () => {
    const manifests = parseManifests(`
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: a }
---
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: b, namespace: team }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: a }
  subscriber: { ref: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: c }, uri: /path }
  delivery: { retry: 3, backoffPolicy: linear, backoffDelay: PT0.5S, timeout: PT10S, retryAfterMax: PT1M }
`);
    assert.equal(manifests.length, 2);
    assert.equal(manifests[0]!.metadata.namespace, "default");
    assert.equal(manifests[1]!.metadata.namespace, "team");
  });

  it("accepts a kubectl-style List", () => {
    const manifests = parseManifests(`
apiVersion: v1
kind: List
items:
  - { apiVersion: messaging.knative.dev/v1, kind: Channel, metadata: { name: a } }
  - { apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, metadata: { name: b } }
`);
    assert.deepEqual(
      manifests.map((m) => m.kind),
      ["Channel", "InMemoryChannel"],
    );
  });

  it("names every DeliverySpec problem by its path", () => {
    const problems = problemsOf(`
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: a }
spec:
  delivery:
    retry: 1.5
    backoffPolicy: random
    backoffDelay: 1s
    timeout: PT
    retryAfterMax: forever
    deadLetterSink: {}
`);
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p.message]));
    assert.match(byPath["spec.delivery.backoffDelay"]!, /not an ISO-8601 duration/);
    assert.match(byPath["spec.delivery.retryAfterMax"]!, /not an ISO-8601 duration/);
    assert.match(byPath["spec.delivery.backoffPolicy"]!, /linear/);
    assert.ok(byPath["spec.delivery.retry"], JSON.stringify(problems));
    assert.match(byPath["spec.delivery.deadLetterSink"]!, /ref, uri/);
  });

  it("rejects destinations that Knative rejects", () => {
    const problems = problemsOf(`
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: s }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: a }
  subscriber: { uri: relative/path }
  reply: { ref: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: c }, uri: "http://absolute.example/" }
`);
    const paths = problems.map((p) => p.path);
    assert.ok(paths.includes("spec.subscriber.uri"), JSON.stringify(problems));
    assert.ok(paths.includes("spec.reply.uri"), JSON.stringify(problems));
  });

  it("prefixes problems with the document index when a file has several", () => {
    const problems = problemsOf(`
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: ok }
---
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: NotADnsName }
`);
    assert.deepEqual(
      problems.map((p) => p.path),
      ["test.yaml[1].metadata.name"],
    );
  });

  it("reports missing apiVersion, kind and metadata.name together", () => {
    const problems = problemsOf("spec: {}\n");
    assert.deepEqual(problems.map((p) => p.path).sort(), ["apiVersion", "kind", "metadata"]);
  });

  it("refuses, where only Herald's kinds are taken, a kind Herald does not run", () => {
    const problems = problemsOf("apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: { name: s }\n");
    assert.deepEqual(problems, [
      {
        path: "kind",
        message:
          "Herald does not run serving.knative.dev/v1 Service; sinks that reference it resolve by the service URL rule (HERALD_SERVICE_URL_TEMPLATE) or a SinkMapping",
      },
    ]);
  });

  it("reports YAML syntax errors with their position", () => {
    const problems = problemsOf("kind: [unclosed\n");
    assert.match(problems[0]!.message, /line|col|flow/i);
  });

  it("refuses a YAML alias bomb as an invalid manifest, naming the document", () => {
    // Billion laughs: nine levels of nine aliases each.
    let bomb = "  a: &a [x, x, x, x, x, x, x, x, x]\n";
    for (let level = 1; level < 9; level++) {
      const name = String.fromCharCode(97 + level);
      const previous = String.fromCharCode(96 + level);
      bomb += `  ${name}: &${name} [${Array(9).fill(`*${previous}`).join(", ")}]\n`;
    }
    const problems = problemsOf(`apiVersion: v1\nkind: ConfigMap\nmetadata: { name: bomb }\ndata:\n${bomb}`);
    assert.equal(problems[0]!.path, "test.yaml");
    assert.match(problems[0]!.message, /alias/i);
  });

  it("refuses a recursive YAML alias as nesting beyond the depth limit", () => {
    const problems = problemsOf(
      "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: loop }\ndata: &d { a: *d }\n",
    );
    assert.ok(problems.length > 0);
  });
});

describe("manifest limits", () => {
  const channel = (spec: unknown) => ({
    apiVersion: "messaging.knative.dev/v1",
    kind: "Channel",
    metadata: { name: "limited" },
    spec: {
      channelTemplate: { apiVersion: "messaging.knative.dev/v1", kind: "InMemoryChannel", spec },
    },
  });
  const nested = (depth: number): unknown => {
    let value: unknown = [];
    for (let level = 1; level < depth; level++) value = [value];
    return value;
  };

  it("holds every manifest to 32 levels of nesting and 1 MiB", () => {
    assert.deepEqual(MANIFEST_LIMITS, { maxDepth: 32, maxBytes: 1_048_576 });
  });

  it("refuses nesting deeper than the limit, naming the limit and where it was passed", () => {
    // The manifest, spec, channelTemplate and its spec are 4 levels; 28 arrays in x make 32.
    assert.deepEqual(checkManifestLimits(channel({ x: nested(28) })), []);
    const problems = checkManifestLimits(channel({ x: nested(29) }));
    assert.equal(problems.length, 1);
    assert.match(problems[0]!.path, /^spec\.channelTemplate\.spec\.x(\[0\])+$/);
    assert.match(problems[0]!.message, /deeper than 32 levels/);
  });

  it("checks 20 000 nested arrays without overflowing the stack", () => {
    const { problems } = validateManifest(kinds, channel({ x: nested(20_000) }));
    assert.match(problems[0]!.message, /deeper than 32 levels/);
  });

  it("refuses a resource larger than 1 MiB as JSON, naming both sizes", () => {
    const big = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "big" },
      data: { a: "x".repeat(1_048_576) },
    };
    const { manifest, problems } = validateManifest(kinds, big, "items[3]");
    assert.equal(manifest, undefined);
    assert.equal(problems[0]!.path, "items[3]");
    assert.match(problems[0]!.message, /is \d+ bytes as JSON, more than 1048576 bytes/);
    const small = { ...big, data: { a: "x".repeat(1_000_000) } };
    assert.ok(validateManifest(kinds, small).manifest);
  });
});
