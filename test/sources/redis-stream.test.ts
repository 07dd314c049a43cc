// needs: redis
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";
import { REDIS_ADDRESS } from "../support/redis.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/**
 * RedisStreamSource on this machine's Redis, from Knative's published sample: stream entries reach a
 * real sink as eventing-redis's events, an entry is acknowledged only once the sink took it (one
 * refused for a while is delivered, none lost), and a source's own consumer group goes with it.
 */
interface Status {
  status: { conditions?: { type: string; status: string }[] };
}
const corpus = resolve(dirname(fileURLToPath(import.meta.url)), "../../../shared/knative-manifests");

describe("RedisStreamSource", () => {
  let herald: InProcessHerald;
  let redis: Redis;
  const receivers: Receiver[] = [];
  const path = (name: string) =>
    `/apis/sources.knative.dev/v1alpha1/namespaces/default/redisstreamsources/${name}`;
  const ready = (name: string) =>
    eventually(
      async () => {
        const { body } = await herald.get<Status>(path(name));
        return body.status.conditions?.find((c) => c.type === "Ready")?.status === "True";
      },
      { timeoutMs: 20_000, message: `${name} to be Ready` },
    );

  before(async () => {
    herald = await InProcessHerald.start();
    redis = new Redis(`redis://${REDIS_ADDRESS}`);
  });
  after(async () => {
    await herald.close();
    redis.disconnect();
    await Promise.all(receivers.map((r) => r.close()));
  });

  it("sends each entry as dev.knative.sources.redisstream, acknowledging only what the sink took", async () => {
    const stream = `herald-stream-${randomUUID().slice(0, 8)}`;
    const group = `herald-group-${randomUUID().slice(0, 8)}`;
    const attempts = new Map<string, number>();
    // Refuses each entry twice (503), then accepts: nothing is lost while the sink is down.
    const sink = await startReceiver((request) => {
      const id = String(request.headers["ce-id"]);
      const n = (attempts.get(id) ?? 0) + 1;
      attempts.set(id, n);
      return { status: n <= 2 ? 503 : 202 };
    });
    receivers.push(sink);
    const sample = readFileSync(
      join(corpus, "knative/docs/docs/versioned/eventing/sources/redis/getting-started.md.block0.yaml"),
      "utf8",
    )
      .replace("<redis-stream-source>", "orders")
      .replace("<redis-uri>", `redis://${REDIS_ADDRESS}`)
      .replace("<redis-stream-name>", stream)
      .replace("<consumer-group-name>", group)
      .replace("<sink>", `{ uri: "${sink.url}" }`);
    await herald.apply(sample);
    await ready("orders");
    const first = await redis.xadd(stream, "*", "fruit", "banana", "color", "yellow");
    const second = await redis.xadd(stream, "*", "fruit", "apple");
    await eventually(() => sink.requests.filter((r) => r.headers["ce-id"] === second).length === 3, {
      timeoutMs: 20_000,
      message: "both entries, each after two refusals",
    });
    const delivered = sink.requests.filter((_, index) => index % 3 === 2);
    assert.deepEqual(
      delivered.map((r) => r.headers["ce-id"]),
      [first, second],
    );
    assert.equal(delivered[0]!.headers["ce-type"], "dev.knative.sources.redisstream");
    assert.equal(delivered[0]!.headers["ce-source"], `redis://${REDIS_ADDRESS}/${stream}`);
    assert.deepEqual(JSON.parse(delivered[0]!.body.toString()), ["fruit", "banana", "color", "yellow"]);
    await eventually(
      async () => {
        const pending = (await redis.xpending(stream, group)) as [number, ...unknown[]];
        return pending[0] === 0;
      },
      { message: "every entry acknowledged" },
    );
    assert.equal(await herald.delete(path("orders")), 200);
    // A named group is the user's: it stays.
    const groups = (await redis.xinfo("GROUPS", stream)) as unknown[][];
    assert.equal(groups.length, 1);
    await redis.del(stream);
  });

  it("without a group, the source's own group is created and deleted with the source", async () => {
    const stream = `herald-stream-${randomUUID().slice(0, 8)}`;
    const sink = await startReceiver();
    receivers.push(sink);
    await herald.apply(`
apiVersion: sources.knative.dev/v1alpha1
kind: RedisStreamSource
metadata: { name: own-group }
spec:
  address: ${REDIS_ADDRESS}
  stream: ${stream}
  consumers: 2
  sink: { uri: "${sink.url}" }
`);
    await ready("own-group");
    for (let n = 0; n < 4; n++) await redis.xadd(stream, "*", "n", String(n));
    await eventually(() => sink.requests.length === 4, { message: "four entries" });
    assert.equal(((await redis.xinfo("GROUPS", stream)) as unknown[]).length, 1);
    assert.equal(await herald.delete(path("own-group")), 200);
    await eventually(async () => ((await redis.xinfo("GROUPS", stream)) as unknown[]).length === 0, {
      message: "the source's group to be deleted",
    });
    await redis.del(stream);
  });

  it("credentials in the address stay out of the events' source and the status", async () => {
    await herald.apply(`
apiVersion: sources.knative.dev/v1alpha1
kind: RedisStreamSource
metadata: { name: secret-address }
spec:
  address: redis://user:s3cret@127.0.0.1:1
  stream: s
  sink: { uri: "http://127.0.0.1:9/" }
`);
    const status = await eventually(async () => {
      const { body: applied } = await herald.get<{ status: { ceAttributes?: { source: string }[] } }>(
        path("secret-address"),
      );
      return applied.status.ceAttributes;
    });
    assert.deepEqual(status, [{ type: "dev.knative.sources.redisstream", source: "redis://127.0.0.1:1/s" }]);
  });

  it("an unreachable Redis shows as Connected=False", async () => {
    const sink = await startReceiver();
    receivers.push(sink);
    await herald.apply(`
apiVersion: sources.knative.dev/v1alpha1
kind: RedisStreamSource
metadata: { name: nowhere }
spec:
  address: 127.0.0.1:1
  stream: s
  sink: { uri: "${sink.url}" }
`);
    await eventually(async () => {
      const { body } = await herald.get<Status>(path("nowhere"));
      return body.status.conditions?.find((c) => c.type === "Connected")?.status === "False";
    });
  });
});
