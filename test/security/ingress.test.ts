import assert from "node:assert/strict";
import { request } from "node:http";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { InProcessHerald, postEvent } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/** POSTs with Node's http client, which sends an array header value as repeated header lines. */
function post(
  url: string,
  headers: Record<string, string | string[]>,
  body: string | Buffer,
): Promise<{ status: number; contentType: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          contentType: res.headers["content-type"],
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Sends a POST with `headerBytes` as they are, and reads the whole answer (the connection closes). */
function rawPost(url: string, headerBytes: Buffer): Promise<string> {
  const { hostname, port, pathname } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(`POST ${pathname} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 1\r\n`);
      socket.write(headerBytes);
      // No half-close: Node's server drops a request whose client ended its side before the answer.
      socket.write("\r\nx");
    });
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("end", () => resolve(Buffer.concat(chunks).toString("latin1")));
    socket.on("error", reject);
  });
}

const structured = { "content-type": "application/cloudevents+json" };
const binary = { "ce-specversion": "1.0", "ce-type": "t", "ce-source": "/s" };

describe("ingress refuses what it could not deliver", () => {
  let herald: InProcessHerald;
  let subscriber: Receiver;
  let deadLetters: Receiver;
  const url = () => herald.channelUrl("poison");

  before(async () => {
    herald = await InProcessHerald.start({ env: { HERALD_MAX_BATCH_EVENTS: "10" } });
    subscriber = await startReceiver();
    deadLetters = await startReceiver();
    await herald.apply(`
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: poison }
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: poison-sub }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: poison }
  subscriber: { uri: "${subscriber.url}" }
  delivery: { deadLetterSink: { uri: "${deadLetters.url}" } }
`);
    await eventually(async () => {
      const { body } = await herald.get<{ status: { conditions?: { type: string; status: string }[] } }>(
        "/apis/messaging.knative.dev/v1/namespaces/default/subscriptions/poison-sub",
      );
      return body.status.conditions?.find((c) => c.type === "Ready")?.status === "True";
    });
  });
  after(async () => {
    await herald.close();
    await subscriber.close();
    await deadLetters.close();
  });

  async function rejectedCount(status: number): Promise<number> {
    const metrics = await (await fetch(`${herald.url}/metrics`)).text();
    const line = new RegExp(`herald_ingress_requests_rejected_total\\{status="${status}"\\} (\\d+)`).exec(
      metrics,
    );
    return line ? Number(line[1]) : 0;
  }

  it("poison datacontenttype and traceparent get 400 naming the attribute, and the valid event is delivered", async () => {
    const poison: [string, Record<string, unknown>][] = [
      ["datacontenttype", { datacontenttype: "text/plain\r\n;x" }],
      ["datacontenttype", { datacontenttype: "text/plain; a=\u0000" }],
      ["datacontenttype", { datacontenttype: "text/plain; a=\u0100" }],
      [
        "traceparent",
        { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\nX-Injected: yes" },
      ],
    ];
    for (const [attribute, extra] of poison) {
      const response = await post(
        url(),
        structured,
        JSON.stringify({ specversion: "1.0", id: "p", type: "t", source: "/s", data: "hi", ...extra }),
      );
      assert.equal(response.status, 400, JSON.stringify(extra));
      assert.equal(response.contentType, "application/json");
      const body = JSON.parse(response.body) as {
        code: string;
        details: { problems: { attribute: string }[] };
      };
      assert.equal(body.code, "InvalidEvent");
      assert.deepEqual(
        body.details.problems.map((p) => p.attribute),
        [attribute],
      );
    }
    const good = await post(
      url(),
      structured,
      JSON.stringify({
        specversion: "1.0",
        id: "good",
        type: "t",
        source: "/s",
        datacontenttype: 'text/plain; charset="utf-8"',
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        data: "hi",
      }),
    );
    assert.equal(good.status, 202);
    const delivered = await eventually(() => subscriber.requests.find((r) => r.headers["ce-id"] === "good"));
    assert.equal(delivered.headers["content-type"], 'text/plain; charset="utf-8"');
    assert.equal(delivered.headers.traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    assert.equal(deadLetters.requests.length, 0);
  });

  it("an invalid traceparent header is not carried over to the event", async () => {
    assert.equal(
      (await post(url(), { ...binary, "ce-id": "tp", traceparent: "not-a-traceparent" }, "x")).status,
      202,
    );
    const delivered = await eventually(() => subscriber.requests.find((r) => r.headers["ce-id"] === "tp"));
    assert.equal(delivered.headers.traceparent, undefined);
    assert.equal(delivered.headers["ce-traceparent"], undefined);
  });

  it("ce-__proto__ and repeated ce- headers get 400", async () => {
    const proto = await post(url(), { ...binary, "ce-id": "x", "ce-__proto__": "x" }, "x");
    assert.equal(proto.status, 400);
    assert.match(proto.body, /__proto__/);
    const repeated = await post(url(), { ...binary, "ce-id": ["dup1", "dup2"] }, "x");
    assert.equal(repeated.status, 400);
    assert.match(repeated.body, /ce-id header is repeated/);
  });

  it("invalid UTF-8 gets 400 in structured mode and in a ce- header", async () => {
    const body = Buffer.concat([
      Buffer.from('{"specversion":"1.0","id":"u'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('1","source":"/s","type":"t"}'),
    ]);
    const structuredResponse = await post(url(), structured, body);
    assert.equal(structuredResponse.status, 400);
    assert.match(structuredResponse.body, /not valid UTF-8/);
    // Raw bytes on the socket: Node's client would send the header as UTF-8.
    const header = await rawPost(
      url(),
      Buffer.concat([
        Buffer.from("ce-specversion: 1.0\r\nce-type: t\r\nce-source: /s\r\nce-id: u"),
        Buffer.from([0xff, 0xfe]),
        Buffer.from("\r\n"),
      ]),
    );
    assert.match(header, /^HTTP\/1\.1 400 /);
    assert.match(header, /"attribute":"id"/);
  });

  it("deeply nested data gets 400 in structured and batched mode, not 500", async () => {
    const data = "[".repeat(200_000) + "]".repeat(200_000);
    const event = `{"specversion":"1.0","id":"deep","source":"/s","type":"t","data":${data}}`;
    const single = await post(url(), structured, event);
    assert.equal(single.status, 400);
    assert.match(single.body, /deeper than 128 levels/);
    const batched = await post(url(), { "content-type": "application/cloudevents-batch+json" }, `[${event}]`);
    assert.equal(batched.status, 400);
    assert.match(batched.body, /deeper than 128 levels/);
  });

  it("a batch of more events than HERALD_MAX_BATCH_EVENTS gets 413", async () => {
    const events = (count: number, prefix: string) =>
      JSON.stringify(
        Array.from({ length: count }, (_, i) => ({
          specversion: "1.0",
          id: `${prefix}${i}`,
          type: "t",
          source: "/s",
        })),
      );
    const batch = { "content-type": "application/cloudevents-batch+json" };
    const tooMany = await post(url(), batch, events(11, "over"));
    assert.equal(tooMany.status, 413);
    assert.match(tooMany.body, /11 events exceeds the limit of 10/);
    assert.equal((await post(url(), batch, events(10, "ok"))).status, 202);
    await eventually(
      () => subscriber.requests.filter((r) => String(r.headers["ce-id"]).startsWith("ok")).length === 10,
    );
    assert.equal(subscriber.requests.filter((r) => String(r.headers["ce-id"]).startsWith("over")).length, 0);
  });

  it("a client that leaves mid-body is counted as 499, not as a server error", async () => {
    const before5xx = await rejectedCount(500);
    const before499 = await rejectedCount(499);
    const { port, hostname } = new URL(herald.url);
    for (let i = 0; i < 3; i++) {
      const socket = connect(Number(port), hostname);
      await new Promise<void>((resolve) => socket.once("connect", resolve));
      socket.write(
        "POST /channels/default/poison HTTP/1.1\r\nhost: x\r\nce-specversion: 1.0\r\nce-id: a\r\n" +
          "ce-type: t\r\nce-source: /s\r\ncontent-length: 1000\r\n\r\npartial",
      );
      await eventually(() => socket.bytesWritten > 0);
      socket.resetAndDestroy();
    }
    await eventually(async () => (await rejectedCount(499)) === before499 + 3);
    assert.equal(await rejectedCount(500), before5xx);
    // Herald still takes events.
    assert.equal(await postEvent(url(), { id: "after-abort" }), 202);
  });
});
