/**
 * What every raw-client forwarder of the open-loop benchmark shares (the backend part sits between
 * the two): node:http ingress answering 202 once the backend acknowledged the event (503 when it
 * refused), the ce- headers and content-type carried with the body, and delivery to the subscriber
 * at argv[1] over the minimal forwarder's undici Pool (64 connections, pipelining 1).
 *
 * The backend part defines `publish(headers, body)` (resolves once the backend acknowledged),
 * `cleanup()` (run on SIGTERM), and uses `deliver(headers, body)` for each consumed message
 * (`headers` a plain object of strings), acknowledging it once that resolves.
 */
export const FORWARDER_HEAD = `
import { createServer } from "node:http";
import { Pool } from "undici";
const subscriber = new URL(process.argv[1]);
const pool = new Pool(subscriber.origin, { connections: 64, pipelining: 1, keepAliveTimeout: 30000 });
const deliver = (headers, body) =>
  pool.request({ method: "POST", path: subscriber.pathname, headers, body })
    .then((response) => response.body.dump(), () => {});
`;

export const FORWARDER_TAIL = `
const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    const headers = {};
    for (const [name, value] of Object.entries(req.headers))
      if (name.startsWith("ce-") || name === "content-type") headers[name] = value;
    publish(headers, Buffer.concat(chunks)).then(
      () => { res.writeHead(202); res.end(); },
      () => { res.writeHead(503); res.end(); },
    );
  });
});
process.once("SIGTERM", async () => {
  server.close();
  await Promise.race([cleanup().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 10000))]);
  process.exit(0);
});
server.keepAliveTimeout = 65000;
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
`;

/** A forwarder script: the shared head, the backend part, the shared tail. */
export const forwarder = (backend: string) => `${FORWARDER_HEAD}${backend}${FORWARDER_TAIL}`;
