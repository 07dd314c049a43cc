import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";
import { runCli, type CliRun } from "../support/cli.js";

const LOG_CHANNEL = "apiVersion: messaging.herald.dev/v1alpha1\n    kind: LogChannel";

function herald(server: string, args: string[]): Promise<CliRun> {
  return runCli(["--server", server, ...args]);
}

async function post(url: string, id: string, type: string): Promise<number> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "ce-specversion": "1.0",
      "ce-id": id,
      "ce-type": type,
      "ce-source": "/test",
      "content-type": "application/json",
    },
    body: JSON.stringify({ id }),
  });
  await response.arrayBuffer();
  return response.status;
}

describe("dead letters kept in a Herald channel: herald dlq list/show and herald redrive", () => {
  let server: InProcessHerald;
  let receiver: Receiver;
  before(async () => {
    server = await InProcessHerald.start();
    receiver = await startReceiver(() => ({ status: 500 }));
  });
  after(async () => {
    await server.close();
    await receiver.close();
  });

  const dlqPath = "/apis/messaging.knative.dev/v1/namespaces/default/channels/orders-dlq";
  const listed = async () => {
    const { status, body } = await server.get<{
      items: { id: string; code?: string; destination?: string; error?: string }[];
    }>(`${dlqPath}/deadletters`);
    assert.equal(status, 200);
    return body.items;
  };
  const ids = (items: { id: string }[]) => items.map((item) => item.id).sort();

  it("lists what failed, redrives the selected ones to the subscriber that now accepts them, and keeps the rest", async () => {
    await server.apply(`
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: orders-dlq }
spec:
  channelTemplate:
    ${LOG_CHANNEL}
---
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: orders }
spec:
  channelTemplate:
    ${LOG_CHANNEL}
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: orders }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: orders }
  subscriber: { uri: "${receiver.url}orders" }
  delivery:
    retry: 0
    deadLetterSink: { ref: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: orders-dlq } }
`);
    for (const [id, type] of [
      ["a-0", "x"],
      ["a-1", "y"],
      ["a-2", "x"],
    ] as const)
      assert.equal(await post(server.channelUrl("orders"), id, type), 202);

    const dead = await eventually(async () => ((await listed()).length === 3 ? listed() : undefined), {
      timeoutMs: 60_000,
      message: "three dead letters",
    });
    assert.deepEqual(ids(dead), ["a-0", "a-1", "a-2"]);
    for (const item of dead) {
      assert.equal(item.code, "500");
      assert.equal(item.destination, `${receiver.url}orders`);
    }

    const list = await herald(server.apiUrl, ["dlq", "list", "orders-dlq"]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^ID\s+TYPE\s+CODE\s+DESTINATION\s+ERROR/);
    assert.match(list.stdout, /a-1\s+y\s+500\s+http/);
    const show = await herald(server.apiUrl, ["dlq", "show", "orders-dlq", "a-1", "-o", "json"]);
    assert.equal(show.code, 0, show.stderr);
    const shown = JSON.parse(show.stdout) as { attributes: Record<string, string>; data: string };
    assert.equal(shown.attributes.type, "y");
    assert.equal(shown.data, JSON.stringify({ id: "a-1" }));
    const missing = await herald(server.apiUrl, ["dlq", "show", "orders-dlq", "nothing"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no dead letter with id nothing/);

    // The subscriber is fixed: the selected dead letters go to it again, paced.
    receiver.respond = () => ({ status: 202 });
    const start = receiver.requests.length;
    const redrive = await herald(server.apiUrl, [
      "redrive",
      "orders-dlq",
      "--filter",
      "type = 'x'",
      "--rate",
      "5",
    ]);
    assert.equal(redrive.code, 0, redrive.stderr);
    assert.equal(redrive.stdout, "2 sent, 0 failed again, 1 remained in default/orders-dlq\n");
    const again = receiver.requests.slice(start);
    assert.deepEqual(again.map((r) => r.headers["ce-id"]).sort(), ["a-0", "a-2"]);
    for (const request of again) {
      assert.equal(request.url, "/orders");
      assert.equal(request.headers["ce-knativeerrordest"], undefined, "the error extensions are removed");
      assert.equal(request.headers["ce-knativeerrorcode"], undefined);
      assert.equal(request.headers["ce-knativeerrordata"], undefined);
      assert.equal(request.headers["ce-heraldreplay"], undefined);
    }
    assert.ok(again[1]!.at - again[0]!.at >= 180, "--rate 5 spaces them 200 ms apart");
    assert.deepEqual(ids(await listed()), ["a-1"]);

    // Refused again: it stays, with the new error.
    receiver.respond = () => ({ status: 503 });
    const refused = await herald(server.apiUrl, ["redrive", "orders-dlq"]);
    assert.equal(refused.stdout, "0 sent, 1 failed again, 0 remained in default/orders-dlq\n");
    const [kept] = await listed();
    assert.equal(kept?.id, "a-1");
    assert.equal(kept?.code, "503");

    receiver.respond = () => ({ status: 202 });
    const last = await herald(server.apiUrl, ["redrive", "orders-dlq"]);
    assert.equal(last.stdout, "1 sent, 0 failed again, 0 remained in default/orders-dlq\n");
    assert.deepEqual(await listed(), []);
  });

  it("answers a bad filter, rate or limit with 400 naming the field, and an unknown channel with 404", async () => {
    const redrive = (body: unknown) =>
      fetch(`${server.apiUrl}${dlqPath}/redrive`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    for (const [body, field] of [
      [{ filter: "type = " }, "filter"],
      [{ rate: -1 }, "rate"],
      [{ limit: 0 }, "limit"],
      [{ everything: true }, "everything"],
    ] as const) {
      const response = await redrive(body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.match(((await response.json()) as { message: string }).message, new RegExp(`^${field}: `));
    }
    const unknown = await server.get(
      "/apis/messaging.knative.dev/v1/namespaces/default/channels/nowhere/deadletters",
    );
    assert.equal(unknown.status, 404);
    const cli = await herald(server.apiUrl, ["redrive", "orders-dlq", "--rate", "fast"]);
    assert.equal(cli.code, 2);
  });
});
