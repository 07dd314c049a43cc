import { spawn, type ChildProcess } from "node:child_process";
import autocannon from "autocannon";
import { HeraldProcess } from "../test/support/herald.js";

export { HeraldProcess };

export interface LoadResult {
  requestsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  non2xx: number;
  errors: number;
  requests: number;
}

/** Drives `url` with autocannon (a separate HTTP client on loopback) and summarises the run. */
export async function load(
  url: string,
  options: {
    durationSeconds: number;
    connections: number;
    headers: Record<string, string>;
    body?: string;
    stamp?: boolean;
  },
): Promise<LoadResult> {
  let sequence = 0;
  const result = await autocannon({
    url,
    method: "POST",
    connections: options.connections,
    duration: options.durationSeconds,
    headers: options.headers,
    body: options.body,
    requests: options.stamp
      ? [
          {
            setupRequest: (request) => ({
              ...request,
              headers: {
                ...request.headers,
                "ce-id": String(++sequence),
                "ce-benchsent": String(performance.timeOrigin + performance.now()),
              },
            }),
          },
        ]
      : undefined,
  });
  return {
    requestsPerSecond: result.requests.average,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    requests: result.requests.total,
  };
}

/** Starts a node script (given `args` as process.argv[1...]) in a child process and waits until it prints its port. */
export async function startScript(
  source: string,
  args: string[] = [],
): Promise<{ port: number; child: ChildProcess; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ["--input-type=module", "-e", source, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once("data", (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    child.once("exit", (code) => reject(new Error(`script exited with ${code}`)));
  });
  return {
    port,
    child,
    stop: async () => {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** A bare node:http server that reads the body and answers 202: the baseline for ingress. */
export const BARE_SERVER = `
import { createServer } from "node:http";
const server = createServer((req, res) => {
  req.on("data", () => {});
  req.on("end", () => { res.writeHead(202); res.end(); });
});
server.keepAliveTimeout = 65000;
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
`;

/**
 * A subscriber that answers 202 and records, per event, the time from the sender's stamp
 * (ce-benchsent) to arrival. Answers GET /stats with {count, p50, p99} and resets on DELETE.
 */
export const COUNTING_SUBSCRIBER = `
import { createServer } from "node:http";
let latencies = [];
const server = createServer((req, res) => {
  if (req.method === "GET") {
    const sorted = [...latencies].sort((a, b) => a - b);
    const at = (q) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ count: latencies.length, p50: at(0.5), p99: at(0.99) }));
    return;
  }
  if (req.method === "DELETE") { latencies = []; res.writeHead(204); res.end(); return; }
  const sent = Number(req.headers["ce-benchsent"]);
  req.on("data", () => {});
  req.on("end", () => {
    if (sent) latencies.push(performance.timeOrigin + performance.now() - sent);
    res.writeHead(202);
    res.end();
  });
});
server.keepAliveTimeout = 65000;
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
`;

export const EVENT_HEADERS = {
  "ce-specversion": "1.0",
  "ce-id": "bench",
  "ce-type": "dev.herald.bench",
  "ce-source": "/bench",
  "content-type": "application/json",
};
export const EVENT_BODY = JSON.stringify({ order: 42, items: ["a", "b", "c"], note: "x".repeat(200) });

export function ratio(value: number, baseline: number): number {
  return baseline === 0 ? 0 : Math.round((value / baseline) * 1000) / 1000;
}
