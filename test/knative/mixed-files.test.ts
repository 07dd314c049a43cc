import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { InProcessHerald } from "../support/herald.js";
import { runCli, type CliRun } from "../support/cli.js";

/**
 * Files as Knative users write them: Herald applies the kinds it runs and leaves every other kind
 * aside, saying so once per document, in the apply response and in the CLI's output. A document
 * of a kind Herald runs that is invalid still refuses the whole file.
 */
interface ApplyAnswer {
  items?: { kind: string; metadata: { name: string } }[];
  leftAside?: {
    document: string;
    apiVersion: string;
    kind: string;
    namespace?: string;
    name?: string;
    reason: string;
  }[];
  details?: { problems?: { path: string; message: string }[] };
}

const CHANNELS = "/apis/messaging.knative.dev/v1/namespaces/knative-debug/channels";
const SERVICE_HINT =
  "; sinks that reference it resolve by the service URL rule (HERALD_SERVICE_URL_TEMPLATE) or a SinkMapping";

const MIXED = `
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: chan, namespace: knative-debug }
---
apiVersion: v1
kind: Service
metadata: { name: svc, namespace: knative-debug }
spec:
  selector: { app: fn }
  ports: [{ protocol: TCP, port: 80, targetPort: 8080 }]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: fn, namespace: knative-debug }
spec:
  replicas: 1
  template: { spec: { containers: [{ name: user-container, image: example/event-display }] } }
---
# a comment between documents
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: { name: display }
spec: { template: { spec: { containers: [{ image: example/event-display }] } } }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: watcher, namespace: knative-debug }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: event-watcher }
---
apiVersion: sources.knative.dev/v1
kind: ApiServerSource
metadata: { name: src, namespace: knative-debug }
spec:
  mode: Resource
  resources: [{ apiVersion: v1, kind: Event }]
  sink: { ref: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: chan } }
`;

async function apply(herald: InProcessHerald, yaml: string): Promise<{ status: number; body: ApplyAnswer }> {
  const response = await fetch(`${herald.url}/apply`, {
    method: "POST",
    headers: { "content-type": "application/yaml" },
    body: yaml,
  });
  return { status: response.status, body: (await response.json()) as ApplyAnswer };
}

function cli(server: string, args: string[], stdin = ""): Promise<CliRun> {
  return runCli(["--server", server, ...args], { stdin });
}

describe("mixed files", () => {
  let herald: InProcessHerald;
  let dir: string;
  before(async () => {
    herald = await InProcessHerald.start();
    dir = await mkdtemp(join(tmpdir(), "herald-mixed-"));
  });
  after(async () => {
    await herald.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("applies the kinds Herald runs and leaves every other kind aside, once each, with the reason", async () => {
    const { status, body } = await apply(herald, MIXED);
    assert.equal(status, 200, JSON.stringify(body));
    assert.deepEqual(
      body.items?.map((item) => `${item.kind}/${item.metadata.name}`),
      ["Channel/chan", "ApiServerSource/src"],
    );
    assert.deepEqual(
      body.leftAside?.map((note) => [note.document, note.apiVersion, note.kind, note.name, note.reason]),
      [
        ["request body[1]", "v1", "Service", "svc", `Herald does not run v1 Service${SERVICE_HINT}`],
        ["request body[2]", "apps/v1", "Deployment", "fn", "Herald does not run apps/v1 Deployment"],
        [
          "request body[4]",
          "serving.knative.dev/v1",
          "Service",
          "display",
          `Herald does not run serving.knative.dev/v1 Service${SERVICE_HINT}`,
        ],
        [
          "request body[5]",
          "rbac.authorization.k8s.io/v1",
          "RoleBinding",
          "watcher",
          "Herald does not run rbac.authorization.k8s.io/v1 RoleBinding",
        ],
      ],
    );
    assert.equal((await herald.get(`${CHANNELS}/chan`)).status, 200);
  });

  it("refuses the whole file when a document of a kind Herald runs is invalid", async () => {
    const { status, body } = await apply(
      herald,
      `${MIXED.replace("name: chan, namespace", "name: chan2, namespace")}
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: sub, namespace: knative-debug }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: chan2 }
  subscriber: { uri: http://127.0.0.1:9/, urll: typo }
`,
    );
    assert.equal(status, 422);
    assert.deepEqual(body.details?.problems, [
      { path: "request body[7].spec.subscriber.urll", message: "unknown field" },
    ]);
    assert.equal((await herald.get(`${CHANNELS}/chan2`)).status, 404, "nothing of the file is applied");
  });

  it("refuses a misspelt kind of a group Herald serves, and a kind in a version it does not serve", async () => {
    const { status, body } = await apply(
      herald,
      `apiVersion: eventing.knative.dev/v1
kind: Triger
metadata: { name: t }
---
apiVersion: messaging.knative.dev/v1alpha1
kind: Subscription
metadata: { name: old }
---
apiVersion: messaging.herald.dev/v1alpha1
kind: Gizmo
metadata: { name: g }
`,
    );
    assert.equal(status, 422);
    const problems = body.details?.problems?.map((p) => `${p.path}: ${p.message}`) ?? [];
    assert.match(problems[0]!, /^request body\[0\]\.kind: unknown kind Triger .*did you mean Trigger\?/);
    assert.match(
      problems[1]!,
      /^request body\[1\]\.kind: Subscription is served as messaging\.knative\.dev\/v1, not messaging\.knative\.dev\/v1alpha1/,
    );
    assert.match(
      problems[2]!,
      /^request body\[2\]\.kind: unknown kind Gizmo in messaging\.herald\.dev\/v1alpha1/,
    );
  });

  it("leaves aside a kind two letters away from one Herald runs, with a hint", async () => {
    const { status, body } = await apply(
      herald,
      "apiVersion: eventing.knative.dev/v1\nkind: Trigers\nmetadata: { name: t }\n",
    );
    assert.equal(status, 200);
    assert.deepEqual(
      body.leftAside?.map((note) => note.reason),
      ["Herald does not run eventing.knative.dev/v1 Trigers (did you mean Trigger?)"],
    );
  });

  it("herald apply -f prints what it left aside, and -R reads the subfolders of a folder", async () => {
    await mkdir(join(dir, "nested"));
    await writeFile(join(dir, "a.yaml"), MIXED.replaceAll("knative-debug", "cli-top"));
    await writeFile(
      join(dir, "nested", "b.yaml"),
      "apiVersion: messaging.knative.dev/v1\nkind: Channel\nmetadata: { name: deeper, namespace: cli-top }\n",
    );
    const flat = await cli(herald.url, ["apply", "-f", dir]);
    assert.equal(flat.code, 0, flat.stderr);
    assert.match(flat.stdout, /^channel\/chan applied$/m);
    assert.match(flat.stdout, /^deployment\/fn left aside: Herald does not run apps\/v1 Deployment$/m);
    assert.match(
      flat.stdout,
      /^service\/display left aside: Herald does not run serving\.knative\.dev\/v1 Service; sinks/m,
    );
    assert.doesNotMatch(flat.stdout, /deeper/, "without -R the subfolder is not read");
    const recursive = await cli(herald.url, ["apply", "-R", "-f", dir]);
    assert.equal(recursive.code, 0, recursive.stderr);
    assert.match(recursive.stdout, /^channel\/deeper applied$/m);
  });
});

describe("Secrets, ConfigMaps and Namespaces", () => {
  let herald: InProcessHerald;
  before(async () => {
    herald = await InProcessHerald.start();
  });
  after(async () => {
    await herald.close();
  });
  const SECRETS = "/api/v1/namespaces/default/secrets";

  it("stores a Secret's stringData in its data, base64-encoded and over data's value, as Kubernetes does", async () => {
    const { status, body } = await apply(
      herald,
      `apiVersion: v1
kind: Secret
metadata: { name: credentials }
type: Opaque
data:
  user: ${Buffer.from("from-data").toString("base64")}
  token: ${Buffer.from("overridden").toString("base64")}
stringData:
  token: s3cr3t
  uri: amqp://guest:guest@127.0.0.1:5672
`,
    );
    assert.equal(status, 200, JSON.stringify(body));
    const secret = await herald.get<{ data: Record<string, string>; spec?: unknown; stringData?: unknown }>(
      `${SECRETS}/credentials`,
    );
    assert.equal(secret.status, 200);
    const decoded = Object.fromEntries(
      Object.entries(secret.body.data).map(([key, value]) => [key, Buffer.from(value, "base64").toString()]),
    );
    assert.deepEqual(decoded, {
      user: "from-data",
      token: "s3cr3t",
      uri: "amqp://guest:guest@127.0.0.1:5672",
    });
    assert.equal(secret.body.spec, undefined, "served in Kubernetes' shape");
    assert.equal(secret.body.stringData, undefined, "stringData is write-only, as in Kubernetes");
  });

  it("refuses a Secret or ConfigMap written with spec, naming the field", async () => {
    const { status, body } = await apply(
      herald,
      "apiVersion: v1\nkind: Secret\nmetadata: { name: wrong }\nspec: { a: b }\n---\n" +
        "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: wrong }\nspec: { a: b }\n",
    );
    assert.equal(status, 422);
    assert.deepEqual(body.details?.problems, [
      { path: "request body[0].spec", message: "unknown field" },
      { path: "request body[1].spec", message: "unknown field" },
    ]);
  });

  it("herald get secret -o yaml | herald apply -f - keeps the Secret and ConfigMap as they were", async () => {
    await apply(
      herald,
      "apiVersion: v1\nkind: Secret\nmetadata: { name: round }\nstringData: { key: value }\n---\n" +
        "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: round }\ndata: { channel-template-spec: 'kind: InMemoryChannel' }\n",
    );
    const printed = await cli(herald.url, ["get", "secret", "round", "-o", "yaml"]);
    assert.equal(printed.code, 0, printed.stderr);
    const applied = await cli(herald.url, ["apply", "-f", "-"], printed.stdout);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /^secret\/round applied$/m);
    for (const path of [`${SECRETS}/round`, "/api/v1/namespaces/default/configmaps/round"]) {
      const before = await herald.get<Record<string, unknown>>(path);
      const again = await apply(herald, JSON.stringify(before.body));
      assert.equal(again.status, 200, JSON.stringify(again.body));
      const after = await herald.get<Record<string, unknown>>(path);
      assert.deepEqual(after.body.data, before.body.data, `${path} keeps its data`);
    }
    const secret = await herald.get<{ data: Record<string, string> }>(`${SECRETS}/round`);
    assert.equal(Buffer.from(secret.body.data.key!, "base64").toString(), "value");
    const described = await cli(herald.url, ["describe", "secret", "round"]);
    assert.match(described.stdout, /Data:\n {2}key: 5 bytes/);
    assert.doesNotMatch(described.stdout, /value/);
  });

  it("keeps a Namespace of a mixed file, cluster-scoped, to list, read and delete", async () => {
    const { status, body } = await apply(
      herald,
      "apiVersion: v1\nkind: Namespace\nmetadata: { name: knative-debug }\n---\n" +
        "apiVersion: messaging.knative.dev/v1\nkind: InMemoryChannel\nmetadata: { name: chan, namespace: knative-debug }\n",
    );
    assert.equal(status, 200, JSON.stringify(body));
    assert.deepEqual(body.leftAside, []);
    const namespace = await herald.get<{ kind: string; metadata: Record<string, unknown> }>(
      "/api/v1/namespaces/knative-debug",
    );
    assert.equal(namespace.status, 200);
    assert.equal(namespace.body.metadata.name, "knative-debug");
    assert.equal("namespace" in namespace.body.metadata, false);
    const listed = await cli(herald.url, ["get", "namespaces"]);
    assert.match(listed.stdout, /^knative-debug\s/m);
    const deleted = await cli(herald.url, ["delete", "namespace", "knative-debug"]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal((await herald.get("/api/v1/namespaces/knative-debug")).status, 404);
  });
});
