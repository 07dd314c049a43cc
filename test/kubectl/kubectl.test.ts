// needs: kubectl
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse as parseYaml } from "yaml";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";
import { KUBECTL } from "../support/kubectl.js";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const manifests = (subscriber: string) => `
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: default
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: display
spec:
  broker: default
  subscriber:
    uri: ${subscriber}
---
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata:
  name: ping
spec:
  schedule: "0 0 1 1 *"
  data: '{"message": "hello"}'
  sink:
    ref:
      apiVersion: eventing.knative.dev/v1
      kind: Broker
      name: default
`;

describe("kubectl against Herald's resource API", () => {
  let herald: InProcessHerald;
  let home: string;
  const children: ChildProcess[] = [];

  /** kubectl with a fresh HOME and KUBECONFIG (no user configuration), pointed at Herald. */
  const start = (args: string[]) =>
    spawn(KUBECTL, ["--server", herald.url, "--insecure-skip-tls-verify", ...args], {
      env: { PATH: process.env.PATH ?? "", HOME: home, KUBECONFIG: join(home, "config") },
      stdio: ["pipe", "pipe", "pipe"],
    });
  const kubectl = (args: string[], stdin?: string): Promise<Run> =>
    new Promise((resolve, reject) => {
      const child = start(args);
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(stdin ?? "");
    });
  const ok = async (args: string[], stdin?: string): Promise<string> => {
    const run = await kubectl(args, stdin);
    assert.equal(run.code, 0, `kubectl ${args.join(" ")} failed: ${run.stderr}`);
    return run.stdout;
  };
  /** The header and rows of `kubectl get` output, split into cells. */
  const rows = (output: string) =>
    output
      .trim()
      .split("\n")
      .map((line) => line.trim().split(/\s+/));

  before(async () => {
    herald = await InProcessHerald.start();
    home = await mkdtemp(join(tmpdir(), "herald-kubectl-"));
    await writeFile(join(home, "resources.yaml"), manifests("http://127.0.0.1:9/display"));
  });
  after(async () => {
    for (const child of children) child.kill();
    await herald.close();
    await rm(home, { recursive: true, force: true });
  });

  it("applies a file: creates every resource, then patches what changed", async () => {
    const file = join(home, "resources.yaml");
    assert.deepEqual((await ok(["apply", "-f", file])).trim().split("\n"), [
      "broker.eventing.knative.dev/default created",
      "trigger.eventing.knative.dev/display created",
      "pingsource.sources.knative.dev/ping created",
    ]);
    await writeFile(file, manifests("http://127.0.0.1:9/changed"));
    assert.deepEqual((await ok(["apply", "-f", file])).trim().split("\n"), [
      "broker.eventing.knative.dev/default unchanged",
      "trigger.eventing.knative.dev/display configured",
      "pingsource.sources.knative.dev/ping unchanged",
    ]);
    const trigger = parseYaml(await ok(["get", "trigger", "display", "-o", "yaml"])) as {
      metadata: { generation: number; annotations: Record<string, string> };
      spec: { subscriber: { uri: string } };
    };
    assert.equal(trigger.spec.subscriber.uri, "http://127.0.0.1:9/changed");
    assert.equal(trigger.metadata.generation, 2);
    assert.match(
      trigger.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]!,
      /changed/,
    );
  });

  it("gets tables with Knative's printer columns", async () => {
    const [brokerHeader, broker] = rows(await ok(["get", "brokers"]));
    assert.deepEqual(brokerHeader, ["NAME", "URL", "AGE", "READY"].concat("REASON"));
    assert.equal(broker![0], "default");
    assert.equal(broker![1], `${herald.url}/brokers/default/default`);
    assert.equal(broker![3], "True");
    const [triggerHeader, trigger] = rows(await ok(["get", "triggers"]));
    assert.deepEqual(triggerHeader, ["NAME", "BROKER", "SUBSCRIBER_URI", "AGE", "READY", "REASON"]);
    assert.deepEqual(
      [trigger![0], trigger![1], trigger![2], trigger![4]],
      ["display", "default", "http://127.0.0.1:9/changed", "True"],
    );
    const [sourceHeader, source] = rows(await ok(["get", "pingsource", "ping"]));
    assert.deepEqual(sourceHeader, ["NAME", "SINK", "AGE", "READY", "REASON"]);
    assert.deepEqual(
      [source![0], source![1], source![3]],
      ["ping", `${herald.url}/brokers/default/default`, "True"],
    );
  });

  it("finds kinds by discovery: short names, categories, api-resources", async () => {
    const [, broker] = rows(
      await ok(["get", "broker/default", "-o", "name"]).then((out) => `header\n${out}`),
    );
    assert.deepEqual(broker, ["broker.eventing.knative.dev/default"]);
    const resources = await ok(["api-resources", "--api-group", "eventing.knative.dev", "-o", "name"]);
    assert.deepEqual(resources.trim().split("\n").sort(), [
      "brokers.eventing.knative.dev",
      "eventpolicies.eventing.knative.dev",
      "eventtransforms.eventing.knative.dev",
      "eventtypes.eventing.knative.dev",
      "kafkasinks.eventing.knative.dev",
      "rabbitmqbrokerconfigs.eventing.knative.dev",
      "triggers.eventing.knative.dev",
    ]);
    const knative = await ok(["get", "knative", "-o", "name"]);
    for (const name of [
      "broker.eventing.knative.dev/default",
      "trigger.eventing.knative.dev/display",
      "pingsource.sources.knative.dev/ping",
    ])
      assert.ok(knative.split("\n").includes(name), `${name} in ${knative}`);
  });

  it("applies a ConfigMap twice (kubectl sends a strategic merge patch for core kinds) and lists across namespaces", async () => {
    const configMap = (value: string) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: team-a\ndata:\n  a: "${value}"\n  b: "x"\n`;
    assert.equal((await ok(["apply", "-f", "-"], configMap("1"))).trim(), "configmap/settings created");
    assert.equal((await ok(["apply", "-f", "-"], configMap("2"))).trim(), "configmap/settings configured");
    const [header, row] = rows(await ok(["get", "configmaps", "-A"]));
    assert.deepEqual(header, ["NAMESPACE", "NAME", "DATA", "AGE"]);
    assert.deepEqual(row!.slice(0, 3), ["team-a", "settings", "2"]);
    const stored = parseYaml(await ok(["get", "configmap", "settings", "-n", "team-a", "-o", "yaml"])) as {
      metadata: { generation: number };
    };
    assert.equal(stored.metadata.generation, 2);
  });

  it("describes a resource with its status conditions", async () => {
    const output = await ok(["describe", "broker", "default"]);
    assert.match(output, /^Name:\s+default$/m);
    assert.match(output, /^Kind:\s+Broker$/m);
    assert.match(output, /Type:\s+Ready/);
  });

  it("describes a resource with the Events recorded about it, and lists Events as Kubernetes prints them", async () => {
    await ok(
      ["apply", "-f", "-"],
      "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata:\n  name: orphan\nspec:\n  broker: missing\n  subscriber:\n    uri: http://127.0.0.1:9/\n",
    );
    // kubectl describe lists the Events with a fieldSelector on involvedObject.name, namespace, kind and uid.
    const described = await eventually(async () => {
      const output = await ok(["describe", "trigger", "orphan"]);
      return /^Events:\n/m.test(output) && output;
    });
    assert.match(
      described,
      /^\s+Warning\s+BrokerDoesNotExist\s+\S+\s+herald\s+Broker default\/missing not found$/m,
    );
    assert.doesNotMatch(described, /Broker default is ready/, "only the Events of the object described");
    const [header, ...events] = rows(await ok(["get", "events", "--field-selector", "type=Warning"]));
    assert.deepEqual(header, ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]);
    assert.ok(
      events.some((row) => row.slice(1, 4).join(" ") === "Warning BrokerDoesNotExist trigger/orphan"),
      JSON.stringify(events),
    );
  });

  it("waits for condition=Ready, seeing the change through a watch", async () => {
    const trigger = `
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: waiting
spec:
  broker: later
  subscriber:
    uri: http://127.0.0.1:9/waiting
`;
    await ok(["apply", "-f", "-"], trigger);
    const notReady = rows(await ok(["get", "trigger", "waiting"]))[1]!;
    assert.equal(notReady[notReady.length - 2], "False");
    const waiting = kubectl(["wait", "--for=condition=Ready", "trigger/waiting", "--timeout=60s"]);
    await ok(
      ["apply", "-f", "-"],
      "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata:\n  name: later\n",
    );
    const waited = await waiting;
    assert.equal(waited.code, 0, waited.stderr);
    assert.equal(waited.stdout.trim(), "trigger.eventing.knative.dev/waiting condition met");
  });

  it("watches with get -w: a new resource appears as a row", async () => {
    const watch = start(["get", "brokers", "-w"]);
    children.push(watch);
    let output = "";
    watch.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    watch.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    await eventually(() => /^default\s/m.test(output), { message: "the broker listed by kubectl get -w" });
    await ok(
      ["apply", "-f", "-"],
      "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata:\n  name: watched\n",
    );
    await eventually(() => /^watched\s+http:\/\/\S+\/brokers\/default\/watched\s/m.test(output), {
      message: "the new broker's row from kubectl get -w",
    });
    watch.kill();
  });

  it("deletes, then reports NotFound as Kubernetes does", async () => {
    assert.equal(
      (await ok(["delete", "trigger", "display"])).trim(),
      'trigger.eventing.knative.dev "display" deleted',
    );
    const missing = await kubectl(["get", "trigger", "display"]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /^Error from server \(NotFound\): Trigger default\/display not found/m);
  });

  it("reports refused writes as Kubernetes Status errors", async () => {
    const exists = await kubectl(
      ["create", "-f", "-"],
      "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata:\n  name: default\n",
    );
    assert.match(
      exists.stderr,
      /Error from server \(AlreadyExists\).*Broker default\/default already exists/,
    );
    const invalid = await kubectl(
      ["apply", "-f", "-"],
      "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata:\n  name: bad\nspec:\n  nope: 1\n",
    );
    assert.notEqual(invalid.code, 0);
    assert.match(invalid.stderr, /The Broker "bad" is invalid: spec\.nope: unknown field/);
  });

  it("answers other clients with Herald's error bodies, and merge-patches over HTTP", async () => {
    const base = `${herald.url}/apis/eventing.knative.dev/v1/namespaces/default/brokers`;
    const missing = await fetch(`${base}/absent`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { code: string }).code, "NotFound");
    const patched = await fetch(`${base}/watched`, {
      method: "PATCH",
      headers: { "content-type": "application/merge-patch+json" },
      body: JSON.stringify({ metadata: { labels: { team: "a" } } }),
    });
    assert.equal(patched.status, 200);
    assert.deepEqual(((await patched.json()) as { metadata: { labels: unknown } }).metadata.labels, {
      team: "a",
    });
    const labelled = await fetch(`${base}?labelSelector=team%3Da`);
    assert.deepEqual(
      ((await labelled.json()) as { items: { metadata: { name: string } }[] }).items.map(
        (i) => i.metadata.name,
      ),
      ["watched"],
    );
    const jsonPatch = await fetch(`${base}/watched`, {
      method: "PATCH",
      headers: { "content-type": "application/json-patch+json" },
      body: "[]",
    });
    assert.equal(jsonPatch.status, 415);
    await jsonPatch.body?.cancel();
  });
});
