// needs: kafka
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { KafkaCluster, kafkaChannel, runName } from "./cluster.js";

describe("herald serve --workers 2 when a worker dies", () => {
  const channel = runName("restart");
  let cluster: KafkaCluster;
  before(async () => {
    cluster = await KafkaCluster.start();
  });
  after(async () => {
    await cluster.close();
  });

  it("starts another worker in its place, keeps answering, and delivers every accepted event", async () => {
    await cluster.herald.apply(kafkaChannel(channel, cluster.receiver.url));
    await cluster.groupHasTwoMembers(channel, channel);
    const [killed, survivor] = cluster.workers();
    process.kill(killed!, "SIGKILL");
    const ids = Array.from({ length: 10 }, (_, i) => `restart-${i}`);
    for (const id of ids) {
      // A connection the primary handed to the killed worker just before it died is reset or never
      // answered (node:cluster does not hand it to another): the client tries on a new one.
      await eventually(async () => (await cluster.postOne(channel, id, [survivor!], 5_000)).status === 202, {
        timeoutMs: 30_000,
        message: `event ${id} accepted`,
      });
    }
    await eventually(() => cluster.workers().length === 2 && !cluster.workers().includes(killed!), {
      timeoutMs: 30_000,
      message: "a new worker in place of the killed one",
    });
    assert.match(
      cluster.herald.output,
      /"worker":\d,"pid":\d+,"code":null,"signal":"SIGKILL","msg":"a worker exited; starting another"/,
    );
    // The killed worker's partitions move once Kafka ends its session (30 s), then their events arrive.
    await cluster.everyDelivered(ids, 120_000);
    assert.equal((await fetch(`${cluster.herald.url}/readyz`)).status, 200);
    // Metrics still come from every worker, the new one included.
    const metrics = await fetch(`${cluster.herald.url}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /herald_reconcile_passes_total \d+/);
  });

  it("stops every worker gracefully on SIGTERM to the primary", async () => {
    const running = cluster.workers();
    assert.equal(await cluster.herald.stop(), 0);
    for (const pid of running) assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} stopped`);
  });
});
