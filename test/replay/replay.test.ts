import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { addToken } from "../../src/auth/token-file.js";
import { eventually } from "../support/eventually.js";
import { InProcessHerald, postEvent } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";
import { channelWithSubscription } from "../support/streams.js";
import { runCli, type CliRun } from "../support/cli.js";

const LOG_CHANNEL = "apiVersion: messaging.herald.dev/v1alpha1\n    kind: LogChannel";
const MEMORY_CHANNEL = "apiVersion: messaging.knative.dev/v1\n    kind: InMemoryChannel";

const replayPath = (name: string) =>
  `/apis/messaging.knative.dev/v1/namespaces/default/subscriptions/${name}/replay`;

/** The ids a receiver got, with the heraldreplay extension of each request, from request `from` on. */
function received(receiver: Receiver, from = 0): { id: string; replay: string | undefined }[] {
  return receiver.requests.slice(from).map((request) => ({
    id: String(request.headers["ce-id"]),
    replay: request.headers["ce-heraldreplay"] as string | undefined,
  }));
}

function herald(server: string, args: string[]): Promise<CliRun> {
  return runCli(["--server", server, ...args]);
}

describe("replaying a Subscription through Herald", () => {
  let dir: string;
  let server: InProcessHerald;
  let receiver: Receiver;
  const tokens = { read: "", write: "" };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "herald-replay-"));
    const tokenFile = join(dir, "tokens.yaml");
    tokens.read = await addToken(tokenFile, "viewer", "read");
    tokens.write = await addToken(tokenFile, "ci", "write");
    server = await InProcessHerald.start({ config: { tokenFile } });
    server.token = tokens.write;
    receiver = await startReceiver();
  });
  after(async () => {
    await server.close();
    await receiver.close();
    await rm(dir, { recursive: true, force: true });
  });

  const replay = (name: string, body: unknown, token = tokens.write, type = "application/json") =>
    fetch(`${server.apiUrl}${replayPath(name)}`, {
      method: "POST",
      headers: { "content-type": type, authorization: `Bearer ${token}` },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });

  it("POST .../subscriptions/NAME/replay from the beginning delivers every kept event again, same ids, with ce-heraldreplay", async () => {
    await server.apply(
      channelWithSubscription({
        name: "rp-begin",
        subscriber: `${receiver.url}begin`,
        template: LOG_CHANNEL,
      }),
    );
    const ids = ["b-0", "b-1", "b-2"];
    for (const id of ids) assert.equal(await postEvent(server.channelUrl("rp-begin"), { id }), 202);
    const ofThisTest = () => receiver.requests.filter((request) => request.url === "/begin");
    await eventually(() => ofThisTest().length >= 3, { message: "the events" });

    const refused = await replay("rp-begin", { from: "beginning" }, tokens.read);
    assert.equal(refused.status, 403, "a replay needs the write role");
    const start = receiver.requests.length;
    const response = await replay("rp-begin", { from: "beginning" });
    assert.equal(response.status, 200, await response.clone().text());
    const answer = (await response.json()) as { mark: string; channel: string };
    assert.equal(answer.mark, "beginning");
    await eventually(() => received(receiver, start).length >= 3, { message: "the replayed events" });
    assert.deepEqual(
      received(receiver, start),
      ids.map((id) => ({ id, replay: "beginning" })),
    );

    const subscription = await server.get<{ status: { replay?: { replayable: boolean; from: string[] } } }>(
      "/apis/messaging.knative.dev/v1/namespaces/default/subscriptions/rp-begin",
    );
    assert.deepEqual(subscription.body.status.replay, {
      replayable: true,
      from: ["beginning", "time", "offset"],
    });
  });

  it("herald replay subscription NAME --from <RFC 3339 time> delivers exactly the events accepted from then on", async () => {
    await server.apply(
      channelWithSubscription({ name: "rp-time", subscriber: `${receiver.url}time`, template: LOG_CHANNEL }),
    );
    const ofThisTest = () => receiver.requests.filter((request) => request.url === "/time");
    assert.equal(await postEvent(server.channelUrl("rp-time"), { id: "t-early" }), 202);
    await eventually(() => ofThisTest().length >= 1, { message: "the early event" });
    const time = new Date(Date.now() + 50);
    await eventually(() => Date.now() > time.getTime() + 50, { message: "the clock past the time" });
    for (const id of ["t-0", "t-1"]) assert.equal(await postEvent(server.channelUrl("rp-time"), { id }), 202);
    await eventually(() => ofThisTest().length >= 3, { message: "the later events" });

    const cli = ["--token", tokens.write, "replay", "subscription", "rp-time", "--from", time.toISOString()];
    const start = receiver.requests.length;
    const run = await herald(server.apiUrl, cli);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /subscription\/rp-time replaying from .* on /);
    await eventually(() => received(receiver, start).length >= 2, { message: "the replayed events" });
    assert.deepEqual(received(receiver, start), [
      { id: "t-0", replay: time.toISOString() },
      { id: "t-1", replay: time.toISOString() },
    ]);

    const bad = await herald(server.apiUrl, [
      "--token",
      tokens.write,
      "replay",
      "subscription",
      "rp-time",
      "--from",
      "yesterday",
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--from.*"yesterday" is not "beginning", an RFC 3339 time/);
  });

  it("POST .../triggers/NAME/replay replays a Trigger on its Broker's channel, the same way", async () => {
    await server.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: replayed }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: audit }
spec:
  broker: replayed
  subscriber: { uri: "${receiver.url}trigger" }
`);
    const brokerUrl = `${server.url}/brokers/default/replayed`;
    const ofThisTest = () => receiver.requests.filter((request) => request.url === "/trigger");
    await eventually(async () => (await postEvent(brokerUrl, { id: "tr-0" })) === 202, {
      message: "the Broker to take events",
    });
    assert.equal(await postEvent(brokerUrl, { id: "tr-1" }), 202);
    await eventually(() => ofThisTest().length >= 2, { message: "the events" });
    const start = receiver.requests.length;
    const response = await fetch(
      `${server.apiUrl}/apis/eventing.knative.dev/v1/namespaces/default/triggers/audit/replay`,
      {
        method: "POST",
        headers: { "content-type": "application/yaml", authorization: `Bearer ${tokens.write}` },
        body: "from: beginning\n",
      },
    );
    assert.equal(response.status, 200, await response.clone().text());
    await eventually(() => received(receiver, start).length >= 2, { message: "the replayed events" });
    assert.deepEqual(received(receiver, start), [
      { id: "tr-0", replay: "beginning" },
      { id: "tr-1", replay: "beginning" },
    ]);
  });

  it("refuses a replay of a Subscription on an InMemoryChannel with 400 naming from, and its status says it cannot replay", async () => {
    await server.apply(
      channelWithSubscription({
        name: "rp-memory",
        subscriber: `${receiver.url}memory`,
        template: MEMORY_CHANNEL,
      }),
    );
    await eventually(async () => (await replay("rp-memory", { from: "beginning" })).status !== 409, {
      message: "the subscription to run",
    });
    const response = await replay("rp-memory", { from: "beginning" });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { code: string; message: string };
    assert.equal(body.code, "BadRequest");
    assert.match(body.message, /^from: the InMemoryChannel default\/rp-memory cannot replay/);
    const subscription = await server.get<{ status: { replay?: { replayable: boolean; reason: string } } }>(
      "/apis/messaging.knative.dev/v1/namespaces/default/subscriptions/rp-memory",
    );
    assert.equal(subscription.body.status.replay?.replayable, false);
    assert.ok(subscription.body.status.replay?.reason);

    // A start position it cannot take is not ignored: the status says why.
    await server.apply(`
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: rp-memory-start, annotations: { herald.dev/replay-from: beginning } }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: rp-memory }
  subscriber: { uri: "${receiver.url}memory-start" }
`);
    const start = await eventually(async () => {
      const { body } = await server.get<{
        status: { replay?: { start?: { from: string; error?: string } } };
      }>("/apis/messaging.knative.dev/v1/namespaces/default/subscriptions/rp-memory-start");
      return body.status.replay?.start;
    });
    assert.equal(start.from, "beginning");
    assert.match(start.error ?? "", /^from: the InMemoryChannel default\/rp-memory cannot replay/);
  });

  it("answers a bad from, an unknown field, an unknown Subscription and a text body with errors naming them", async () => {
    await server.apply(
      channelWithSubscription({ name: "rp-bad", subscriber: `${receiver.url}bad`, template: LOG_CHANNEL }),
    );
    const badFrom = await replay("rp-bad", { from: "2026-13-45" });
    assert.equal(badFrom.status, 400);
    assert.match(((await badFrom.json()) as { message: string }).message, /^from: /);
    const extra = await replay("rp-bad", { from: "beginning", to: "end" });
    assert.equal(extra.status, 400);
    assert.match(((await extra.json()) as { message: string }).message, /^to: unknown field/);
    assert.equal((await replay("nobody", { from: "beginning" })).status, 404);
    assert.equal((await replay("rp-bad", "from=beginning", tokens.write, "text/plain")).status, 415);
  });

  it("the herald.dev/replay-from annotation starts a new Subscription at the beginning of what its channel keeps; a bad one is refused naming it", async () => {
    await server.apply(
      channelWithSubscription({
        name: "rp-annotated",
        subscriber: `${receiver.url}first`,
        template: LOG_CHANNEL,
      }),
    );
    for (const id of ["a-0", "a-1"])
      assert.equal(await postEvent(server.channelUrl("rp-annotated"), { id }), 202);
    await eventually(() => receiver.requests.filter((r) => r.url === "/first").length >= 2, {
      message: "the events",
    });

    const later = `
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: rp-late, annotations: { herald.dev/replay-from: beginning } }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: rp-annotated }
  subscriber: { uri: "${receiver.url}late" }
`;
    await server.apply(later);
    const ofLate = () =>
      received({ ...receiver, requests: receiver.requests.filter((r) => r.url === "/late") });
    await eventually(() => ofLate().length >= 2, { message: "the events published before the Subscription" });
    assert.deepEqual(ofLate(), [
      { id: "a-0", replay: "beginning" },
      { id: "a-1", replay: "beginning" },
    ]);
    const status = await eventually(async () => {
      const { body } = await server.get<{
        status: { replay?: { start?: { from: string; applied?: string } } };
      }>("/apis/messaging.knative.dev/v1/namespaces/default/subscriptions/rp-late");
      return body.status.replay?.start;
    });
    assert.equal(status.from, "beginning");
    assert.ok(status.applied);
    // Applying it again (a new generation) does not start it over.
    await server.apply(later.replace("/late", "/late?again"));
    assert.equal(await postEvent(server.channelUrl("rp-annotated"), { id: "a-2" }), 202);
    await eventually(() => receiver.requests.some((r) => r.url === "/late?again"), {
      message: "the next event",
    });
    assert.deepEqual(
      receiver.requests.filter((r) => r.url === "/late?again").map((r) => r.headers["ce-id"]),
      ["a-2"],
    );

    const refused = await server.applyRejected(later.replace("beginning", "last tuesday"));
    assert.match(refused, /metadata\.annotations\[\\?"herald\.dev\/replay-from\\?"\]/);
  });
});
