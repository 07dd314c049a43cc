import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { Sender } from "../../src/dispatcher/sender.js";
import type { CloudEvent } from "../../src/events/event.js";

const event: CloudEvent = {
  attributes: {
    specversion: "1.0",
    id: "1",
    source: "/test",
    type: "dev.herald.test",
    datacontenttype: "application/json",
  },
  data: Buffer.from("{}"),
};

/** What an AbortSignal keeps for every AbortSignal.any built on it (Node's kDependantSignals). */
function dependantsOf(signal: AbortSignal): number {
  const symbol = Object.getOwnPropertySymbols(signal).find((key) => key.description === "kDependantSignals");
  const dependants = symbol
    ? (signal as unknown as Record<symbol, Set<unknown> | undefined>)[symbol]
    : undefined;
  return dependants?.size ?? 0;
}

describe("Sender", () => {
  let server: Server;
  let base: string;
  const hung: ServerResponse[] = [];
  const routes: Record<string, (request: IncomingMessage, response: ServerResponse) => void> = {
    "/accept": (_, response) => {
      response.writeHead(202, { "content-type": "text/plain" });
      response.end("accepted, not an event");
    },
    "/reply": (_, response) => {
      response.writeHead(200, {
        "ce-specversion": "1.0",
        "ce-id": "reply-1",
        "ce-source": "/subscriber",
        "ce-type": "dev.herald.reply",
        "content-type": "application/json",
      });
      response.end('{"answer":42}');
    },
    "/refuse": (_, response) => {
      response.writeHead(400);
      response.end("bad event");
    },
    "/slow": (_, response) => {
      setTimeout(() => {
        response.writeHead(202);
        response.end();
      }, 20);
    },
    "/hang": (_, response) => void hung.push(response),
  };

  before(async () => {
    server = createServer((request, response) => {
      request.resume();
      request.on("end", () => routes[request.url ?? ""]?.(request, response));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    for (const response of hung) response.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("attaches one listener to the subscription's signal, however many deliveries it makes", async () => {
    const sender = new Sender({ connectionsPerOrigin: 4, defaultTimeoutMs: 30_000 });
    const subscription = new AbortController();
    try {
      for (let round = 0; round < 50; round++) {
        const results = await Promise.all(
          Array.from({ length: 4 }, () =>
            sender.send(`${base}/accept`, event, { signal: subscription.signal, timeoutMs: 10_000 }),
          ),
        );
        assert.ok(results.every((result) => result.ok));
      }
      assert.equal(getEventListeners(subscription.signal, "abort").length, 1);
      assert.equal(dependantsOf(subscription.signal), 0);
    } finally {
      await sender.close();
    }
  });

  it("keeps one listener on the subscription's signal with many deliveries in flight", async () => {
    const sender = new Sender({ connectionsPerOrigin: 4, defaultTimeoutMs: 30_000 });
    const subscription = new AbortController();
    try {
      const sending = Array.from({ length: 30 }, () =>
        sender.send(`${base}/slow`, event, { signal: subscription.signal }),
      );
      assert.equal(getEventListeners(subscription.signal, "abort").length, 1);
      assert.ok((await Promise.all(sending)).every((result) => result.ok));
    } finally {
      await sender.close();
    }
  });

  it("reads a reply event, and discards the body of an answer that holds none", async () => {
    const sender = new Sender({ connectionsPerOrigin: 2, defaultTimeoutMs: 30_000 });
    try {
      const reply = await sender.send(`${base}/reply`, event);
      assert.equal(reply.ok, true);
      assert.equal(reply.body?.toString(), '{"answer":42}');
      const accepted = await sender.send(`${base}/accept`, event);
      assert.equal(accepted.ok, true);
      assert.equal(accepted.status, 202);
      assert.equal(accepted.body?.length, 0);
    } finally {
      await sender.close();
    }
  });

  it("keeps a refusal's body, for knativeerrordata", async () => {
    const sender = new Sender({ connectionsPerOrigin: 2, defaultTimeoutMs: 30_000 });
    try {
      const refused = await sender.send(`${base}/refuse`, event);
      assert.equal(refused.ok, false);
      assert.equal(refused.status, 400);
      assert.equal(refused.body?.toString(), "bad event");
    } finally {
      await sender.close();
    }
  });

  it("fails an attempt the subscriber does not answer within its timeout, naming the timeout", async () => {
    const sender = new Sender({ connectionsPerOrigin: 2, defaultTimeoutMs: 30_000 });
    try {
      const result = await sender.send(`${base}/hang`, event, { timeoutMs: 200 });
      assert.equal(result.ok, false);
      assert.equal(result.error, "timed out after 200 ms");
    } finally {
      await sender.close();
    }
  });

  it("stops a delivery in flight when the subscription stops", async () => {
    const sender = new Sender({ connectionsPerOrigin: 2, defaultTimeoutMs: 30_000 });
    const subscription = new AbortController();
    try {
      const sending = sender.send(`${base}/hang`, event, { signal: subscription.signal });
      setImmediate(() => subscription.abort());
      await assert.rejects(sending);
    } finally {
      await sender.close();
    }
  });

  it("answers an unparseable destination with a failed result, not an exception", async () => {
    const sender = new Sender({ connectionsPerOrigin: 2, defaultTimeoutMs: 30_000 });
    try {
      const result = await sender.send("not a url", event);
      assert.equal(result.ok, false);
      assert.ok(result.error);
    } finally {
      await sender.close();
    }
  });
});
