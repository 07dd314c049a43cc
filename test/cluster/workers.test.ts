// needs: kafka
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCliProcess } from "../support/cli.js";
import { eventually } from "../support/eventually.js";
import { freePort, InProcessHerald } from "../support/herald.js";
import { startReceiver } from "../support/receiver.js";
import { KafkaCluster, kafkaChannel, runName } from "./cluster.js";
import { requestOnNewConnection } from "./sockets.js";

/** The ready condition's status of a resource body, as the API answered it. */
const readyOf = (body: string) =>
  (
    JSON.parse(body) as { status?: { conditions?: { type: string; status: string }[] } }
  ).status?.conditions?.find((condition) => condition.type === "Ready")?.status;

describe("herald serve --workers 2 on KafkaChannels", () => {
  const spread = runName("spread");
  const late = runName("late");
  let cluster: KafkaCluster;
  before(async () => {
    cluster = await KafkaCluster.start();
  });
  after(async () => {
    await cluster.close();
  });

  it("takes events on one port in both workers, both deliver, and every accepted event arrives", async () => {
    await cluster.herald.apply(kafkaChannel(spread, cluster.receiver.url));
    await cluster.groupHasTwoMembers(spread, spread);
    const ids = Array.from({ length: 60 }, (_, i) => `spread-${i}`);
    const servedBy = await cluster.post(spread, ids);
    const workers = cluster.workers().sort();
    assert.deepEqual([...servedBy].sort(), workers, "each worker took part of the ingress");
    await cluster.everyDelivered(ids);
    const senders = new Set(ids.flatMap((id) => [...cluster.deliveredBy.get(id)!]));
    assert.deepEqual([...senders].sort(), workers, "each worker delivered part of the events");
    // /metrics sums the workers: every 202 counted once, whichever worker answered it.
    const metrics = await (await fetch(`${cluster.herald.url}/metrics`)).text();
    const accepted = `herald_ingress_events_accepted_total{namespace="default",name="${spread}"} 60\n`;
    assert.ok(metrics.includes(accepted), metrics);
  });

  it("shows a Subscription applied through the API Ready on every worker, and delivers to it", async () => {
    const lateReceiver = await startReceiver();
    try {
      // Two Subscriptions, each applied on a connection of its own: each worker takes one, and each
      // answers with the status after the leader's reconcile, as a single Herald does.
      const appliedBy = new Set<number | undefined>();
      for (const name of [late, `${late}-b`]) {
        const answer = await requestOnNewConnection(`${cluster.herald.apiUrl}/apply`, cluster.workers(), {
          method: "POST",
          headers: { "content-type": "application/yaml" },
          body: `
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: ${name} }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: ${spread} }
  subscriber: { uri: "${lateReceiver.url}" }
`,
        });
        assert.equal(answer.status, 200, answer.body);
        const [applied] = (JSON.parse(answer.body) as { items: unknown[] }).items;
        // Reconciled: it has its Ready condition (True, or not yet while its consumer group forms).
        assert.ok(readyOf(JSON.stringify(applied)), answer.body);
        appliedBy.add(answer.servedBy);
      }
      assert.equal(appliedBy.size, 2, "each worker answered an apply");
      const path = `${cluster.herald.apiUrl}/apis/messaging.knative.dev/v1/namespaces/default/subscriptions/${late}`;
      const readyOn = new Set<number | undefined>();
      await eventually(
        async () => {
          const answer = await requestOnNewConnection(path, cluster.workers());
          const ready = readyOf(answer.body);
          // Once a worker showed it Ready, no worker shows it otherwise (one status, the leader's).
          if (readyOn.size > 0) assert.equal(ready, "True", `after Ready, ${answer.body}`);
          if (ready === "True") readyOn.add(answer.servedBy);
          return cluster.workers().every((pid) => readyOn.has(pid));
        },
        { timeoutMs: 60_000, message: "the Subscription Ready as each worker answers" },
      );
      const ids = Array.from({ length: 20 }, (_, i) => `late-${i}`);
      await cluster.post(spread, ids);
      await eventually(
        () => ids.every((id) => lateReceiver.requests.some((r) => r.headers["ce-id"] === id)),
        {
          timeoutMs: 60_000,
          message: "every event delivered to the new Subscription",
        },
      );
    } finally {
      await lateReceiver.close();
    }
  });

  it("refuses a Channel or a Broker ConfigMap on InMemoryChannel, naming the field", async () => {
    const text = await cluster.herald.applyRejected(`
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: local }
spec:
  channelTemplate: { apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel }
`);
    assert.match(text, /spec\.channelTemplate\.kind/);
    assert.match(text, /InMemoryChannel keeps its events in one process/);
    // Knative's way to give Brokers a channel kind.
    const configMap = await cluster.herald.applyRejected(`
apiVersion: v1
kind: ConfigMap
metadata: { name: imc-channel }
data:
  channel-template-spec: |
    apiVersion: messaging.knative.dev/v1
    kind: InMemoryChannel
`);
    assert.match(configMap, /data\.channel-template-spec/);
    assert.match(configMap, /InMemoryChannel keeps its events in one process/);
  });

  it("stops every worker gracefully on SIGTERM to the primary", async () => {
    const running = cluster.workers();
    assert.equal(await cluster.herald.stop(), 0);
    for (const pid of running) assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} stopped`);
  });
});

describe("herald serve --workers 2 with channels one process owns", () => {
  const environment = () => {
    const env = { ...process.env } as Record<string, string>;
    delete env.HERALD_DEFAULT_CHANNEL_KIND;
    return env;
  };

  it("refuses to start when the default channel kind is LogChannel or InMemoryChannel, naming it", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "herald-cluster-"));
    try {
      for (const kind of ["LogChannel", "InMemoryChannel"]) {
        const flags = kind === "LogChannel" ? [] : ["--default-channel-kind", kind];
        const run = await runCliProcess(
          ["serve", "--workers", "2", "--port", String(await freePort()), "--data-dir", dataDir, ...flags],
          { env: environment() },
        );
        assert.equal(run.code, 2, run.stderr);
        assert.match(run.stderr, /workers \(HERALD_WORKERS\)/);
        assert.match(
          run.stderr,
          new RegExp(`default channel kind .* is ${kind}: ${kind} keeps its events in one process`),
        );
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("refuses to start over a data directory holding an InMemoryChannel, naming it", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "herald-cluster-"));
    try {
      const single = await InProcessHerald.start({ dataDir });
      await single.apply(`
apiVersion: messaging.knative.dev/v1
kind: InMemoryChannel
metadata: { name: kept }
`);
      await single.close();
      const run = await runCliProcess(
        ["serve", "--workers", "2", "--port", String(await freePort()), "--data-dir", dataDir],
        { env: { ...environment(), HERALD_DEFAULT_CHANNEL_KIND: "KafkaChannel" } },
      );
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, /InMemoryChannel default\/kept/);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
