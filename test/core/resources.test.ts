import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { HeraldProcess, InProcessHerald, postEvent } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

const CHANNELS = "/apis/messaging.knative.dev/v1/namespaces/default/channels";
const SUBSCRIPTIONS = "/apis/messaging.knative.dev/v1/namespaces/default/subscriptions";

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface Stored {
  metadata: { name: string; uid: string; generation: number };
  spec: Record<string, unknown>;
  status: {
    observedGeneration?: number;
    conditions?: Condition[];
    address?: { url: string };
    subscribers?: { uid: string; ready: string }[];
  };
}
const condition = (resource: Stored, type: string) =>
  resource.status.conditions?.find((c) => c.type === type);

async function send(url: string, method: string, body?: unknown, type = "application/json") {
  const response = await fetch(url, {
    method,
    headers: { "content-type": type },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe("resource API and validation", () => {
  let herald: InProcessHerald;
  let receiver: Receiver;
  before(async () => {
    receiver = await startReceiver();
    herald = await InProcessHerald.start();
  });
  after(async () => {
    await herald.close();
    await receiver.close();
  });

  it("creates with PUT, reads, lists, replaces with a new generation and deletes", async () => {
    const put = await send(`${herald.url}${CHANNELS}/crud`, "PUT", {
      apiVersion: "messaging.knative.dev/v1",
      kind: "Channel",
      metadata: { name: "crud" },
    });
    assert.equal(put.status, 201);
    const created = put.body as unknown as Stored;
    assert.equal(created.metadata.generation, 1);
    assert.equal(condition(created, "Ready")?.status, "True");
    assert.equal(created.status.observedGeneration, 1);
    assert.equal(created.status.address?.url, herald.channelUrl("crud"));

    const replaced = await send(
      `${herald.url}${CHANNELS}/crud`,
      "PUT",
      "apiVersion: messaging.knative.dev/v1\nkind: Channel\nmetadata: { name: crud }\nspec:\n  delivery: { retry: 3 }\n",
      "application/yaml",
    );
    assert.equal(replaced.status, 200);
    assert.equal((replaced.body as unknown as Stored).metadata.generation, 2);
    assert.equal((replaced.body as unknown as Stored).metadata.uid, created.metadata.uid);

    const list = await herald.get<{ kind: string; items: Stored[] }>(CHANNELS);
    assert.equal(list.body.kind, "ChannelList");
    assert.ok(list.body.items.some((c) => c.metadata.name === "crud"));
    const across = await herald.get<{ items: Stored[] }>("/apis/messaging.knative.dev/v1/channels");
    assert.ok(across.body.items.some((c) => c.metadata.name === "crud"));

    const deleted = await fetch(`${herald.url}${CHANNELS}/crud`, { method: "DELETE" });
    assert.equal(deleted.status, 200);
    assert.equal((await herald.get(`${CHANNELS}/crud`)).status, 404);
    assert.equal(await postEvent(herald.channelUrl("crud")), 404);
  });

  it("creates with POST on the collection and refuses a duplicate with 409", async () => {
    const body = {
      apiVersion: "messaging.knative.dev/v1",
      kind: "InMemoryChannel",
      metadata: { name: "posted" },
    };
    const path = `${herald.url}/apis/messaging.knative.dev/v1/namespaces/default/inmemorychannels`;
    assert.equal((await send(path, "POST", body)).status, 201);
    assert.equal((await send(path, "POST", body)).status, 409);
  });

  it("rejects an invalid resource listing every problem by field path, applying nothing", async () => {
    const yaml = `
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: fine-channel }
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: Bad_Name }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel }
  subscriber: { uri: "not a url" }
  delivery: { backoffDelay: "soon", backoffPolicy: quadratic, retry: -1 }
`;
    const response = await send(`${herald.url}/apply`, "POST", yaml, "application/yaml");
    assert.equal(response.status, 422);
    const problems = (response.body.details as { problems: { path: string; message: string }[] }).problems;
    const paths = problems.map((p) => p.path);
    for (const expected of [
      "[1].metadata.name",
      "[1].spec.channel.name",
      "[1].spec.subscriber.uri",
      "[1].spec.delivery.backoffDelay",
      "[1].spec.delivery.backoffPolicy",
      "[1].spec.delivery.retry",
    ]) {
      assert.ok(
        paths.some((p) => p.endsWith(expected.replace(/^\[1\]/, "")) && p.includes("[1]")),
        `missing ${expected} in ${JSON.stringify(problems)}`,
      );
    }
    assert.match(JSON.stringify(problems), /not an ISO-8601 duration/);
    assert.equal((await herald.get(`${CHANNELS}/fine-channel`)).status, 404, "nothing half-applied");
  });

  it("rejects YAML that does not parse, and a misspelt kind, with a reason", async () => {
    const broken = await send(`${herald.url}/apply`, "POST", "kind: [unclosed", "application/yaml");
    assert.equal(broken.status, 422);
    const unknown = await send(
      `${herald.url}/apply`,
      "POST",
      "apiVersion: messaging.knative.dev/v1\nkind: Chanel\nmetadata: { name: p }\n",
      "application/yaml",
    );
    assert.equal(unknown.status, 422);
    assert.match(JSON.stringify(unknown.body), /unknown kind Chanel .*did you mean Channel\?/);
  });

  it("keeps a Subscription not Ready while its channel is missing, and makes it Ready when the channel appears", async () => {
    const [subscription] = (await herald.apply(`
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: early }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: late }
  subscriber: { uri: "${receiver.url}" }
`)) as unknown as Stored[];
    assert.equal(condition(subscription!, "Ready")?.status, "False");
    assert.equal(condition(subscription!, "Ready")?.reason, "ChannelNotFound");
    assert.match(condition(subscription!, "Ready")?.message ?? "", /late/);

    await herald.apply("apiVersion: messaging.knative.dev/v1\nkind: Channel\nmetadata: { name: late }\n");
    const ready = await eventually(async () => {
      const { body } = await herald.get<Stored>(`${SUBSCRIPTIONS}/early`);
      return condition(body, "Ready")?.status === "True" && body;
    });
    const channel = (await herald.get<Stored>(`${CHANNELS}/late`)).body;
    assert.deepEqual(
      channel.status.subscribers?.map((s) => s.uid),
      [ready.metadata.uid],
    );
    assert.equal(await postEvent(herald.channelUrl("late"), { id: "after-late" }), 202);
    await eventually(() => receiver.requests.some((r) => r.headers["ce-id"] === "after-late"));
  });

  it("applies a change to a Subscription without a restart", async () => {
    const second = await startReceiver();
    try {
      const sub = (target: string) => `
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: switching }
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: switching-sub }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: switching }
  subscriber: { uri: "${target}" }
`;
      await herald.apply(sub(receiver.url));
      assert.equal(await postEvent(herald.channelUrl("switching"), { id: "to-first" }), 202);
      await eventually(() => receiver.requests.some((r) => r.headers["ce-id"] === "to-first"));
      await herald.apply(sub(second.url));
      assert.equal(await postEvent(herald.channelUrl("switching"), { id: "to-second" }), 202);
      await eventually(() => second.requests.some((r) => r.headers["ce-id"] === "to-second"));
      assert.ok(!receiver.requests.some((r) => r.headers["ce-id"] === "to-second"));
    } finally {
      await second.close();
    }
  });
});

describe("persistence and the config folder", () => {
  it("brings back the same resources and addresses after a restart", async () => {
    const receiver = await startReceiver();
    const herald = await HeraldProcess.start();
    try {
      const [channel] = (await herald.apply(
        "apiVersion: messaging.knative.dev/v1\nkind: Channel\nmetadata: { name: durable, namespace: team-a }\n",
      )) as unknown as Stored[];
      await herald.apply(`
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: durable-sub, namespace: team-a }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: durable }
  subscriber: { uri: "${receiver.url}" }
`);
      await herald.stop();
      await herald.start();
      const again = (
        await herald.get<Stored>("/apis/messaging.knative.dev/v1/namespaces/team-a/channels/durable")
      ).body;
      assert.equal(again.metadata.uid, channel!.metadata.uid);
      assert.equal(again.status.address?.url, herald.channelUrl("durable", "team-a"));
      assert.equal(await postEvent(herald.channelUrl("durable", "team-a"), { id: "after-restart" }), 202);
      await eventually(() => receiver.requests.some((r) => r.headers["ce-id"] === "after-restart"));
    } finally {
      await herald.close();
      await receiver.close();
    }
  });

  it("loads every YAML file of --config at start and applies changes to the folder while running", async () => {
    const dir = await mkdtemp(join(tmpdir(), "herald-config-"));
    await writeFile(
      join(dir, "channels.yaml"),
      "apiVersion: messaging.knative.dev/v1\nkind: Channel\nmetadata: { name: from-file }\n---\napiVersion: messaging.knative.dev/v1\nkind: InMemoryChannel\nmetadata: { name: imc-from-file }\n",
    );
    await writeFile(join(dir, "notes.txt"), "not a manifest");
    const herald = await HeraldProcess.start({ args: ["--config", dir] });
    try {
      assert.equal((await herald.get(`${CHANNELS}/from-file`)).status, 200);
      assert.equal(
        (await herald.get("/apis/messaging.knative.dev/v1/namespaces/default/inmemorychannels/imc-from-file"))
          .status,
        200,
      );
      await writeFile(
        join(dir, "more.yml"),
        "apiVersion: messaging.knative.dev/v1\nkind: Channel\nmetadata: { name: added-later }\n",
      );
      await eventually(async () => (await herald.get(`${CHANNELS}/added-later`)).status === 200);
      await unlink(join(dir, "more.yml"));
      await eventually(async () => (await herald.get(`${CHANNELS}/added-later`)).status === 404);
    } finally {
      await herald.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
