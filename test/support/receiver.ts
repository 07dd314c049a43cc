import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One request as a receiver saw it. */
export interface ReceivedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** Arrival time, from performance.now(). */
  readonly at: number;
  /** The sender's port of the connection (which process sent it, with test/cluster's socket owner). */
  readonly remotePort?: number;
}

export interface ReplyPlan {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Wait this long before answering (to exercise timeouts). */
  delayMs?: number;
}

/**
 * A real HTTP subscriber on a free loopback port. It records every request and answers with what
 * `respond` returns (202 by default), so tests can script failures, replies and slow answers.
 */
export interface Receiver {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  respond: (request: ReceivedRequest, index: number) => ReplyPlan;
  close(): Promise<void>;
}

export async function startReceiver(respond?: Receiver["respond"]): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  /** Answers scheduled later (`delayMs`); dropped on close, so no timer outlives the receiver. */
  const delayed = new Set<NodeJS.Timeout>();
  const receiver: Receiver = {
    url: "",
    requests,
    respond: respond ?? (() => ({ status: 202 })),
    close: async () => {
      for (const timer of delayed) clearTimeout(timer);
      delayed.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const request: ReceivedRequest = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks),
        at: performance.now(),
        remotePort: req.socket.remotePort,
      };
      const index = requests.push(request) - 1;
      const plan = receiver.respond(request, index);
      const answer = () => {
        if (res.destroyed) return;
        res.writeHead(plan.status, plan.headers);
        res.end(plan.body);
      };
      if (plan.delayMs) {
        const timer = setTimeout(() => {
          delayed.delete(timer);
          answer();
        }, plan.delayMs);
        delayed.add(timer);
      } else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  (receiver as { url: string }).url = `http://127.0.0.1:${port}/`;
  return receiver;
}

/**
 * A subscriber that answers every event with a new CloudEvent (binary mode) of `type` from `source`,
 * its id `{idPrefix}-{n}`: a reply for Herald to forward.
 */
export function startReplier(reply: {
  readonly type: string;
  readonly source: string;
  readonly idPrefix?: string;
  readonly body?: string;
}): Promise<Receiver> {
  return startReceiver((_request, index) => ({
    status: 200,
    headers: {
      "ce-specversion": "1.0",
      "ce-id": `${reply.idPrefix ?? "reply"}-${index}`,
      "ce-type": reply.type,
      "ce-source": reply.source,
      "content-type": "text/plain",
    },
    body: reply.body ?? "reply",
  }));
}
