/**
 * The processes around the system under test in the open-loop benchmark: the subscriber that records
 * end-to-end latency, the minimal Node forwarder (the baseline of Herald's delivery), and the CPU and
 * memory of a process read from /proc.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/**
 * A subscriber answering 202 that records, per event, the time from its intended send time
 * (`ce-benchintended`) to arrival into an HDR histogram (microseconds, 3 significant digits).
 * GET /stats answers {count, p50Ms, p99Ms, p999Ms, maxMs}; DELETE resets.
 */
export const HDR_SUBSCRIBER = `
import { createServer } from "node:http";
import * as hdr from "hdr-histogram-js";
const build = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3600000000, numberOfSignificantValueDigits: 3 });
let histogram = build();
let count = 0;
const ms = (micros) => Math.round(micros / 10) / 100;
const server = createServer((req, res) => {
  if (req.method === "GET") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({
      count,
      p50Ms: ms(histogram.getValueAtPercentile(50)),
      p99Ms: ms(histogram.getValueAtPercentile(99)),
      p999Ms: ms(histogram.getValueAtPercentile(99.9)),
      maxMs: ms(histogram.maxValue),
    }));
    return;
  }
  if (req.method === "DELETE") { histogram = build(); count = 0; res.writeHead(204); res.end(); return; }
  const intended = Number(req.headers["ce-benchintended"]);
  req.on("data", () => {});
  req.on("end", () => {
    count++;
    if (intended) histogram.recordValue(Math.max(1, Math.round((performance.timeOrigin + performance.now() - intended) * 1000)));
    res.writeHead(202);
    res.end();
  });
});
server.keepAliveTimeout = 65000;
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
`;

/**
 * The fair baseline of Herald's in-memory delivery, doing the same work with the same strategy and
 * the same defaults: node:http ingress, a bounded FIFO (10 000 events, 503 when full, as
 * HERALD_MEMORY_CAPACITY), 202 right after the enqueue, and up to 100 deliveries in flight
 * (HERALD_DISPATCHER_MAX_IN_FLIGHT) over an undici Pool of 64 connections
 * (HERALD_DISPATCHER_CONNECTIONS_PER_ORIGIN) to the subscriber at argv[1], binary mode, the ce-
 * headers and content-type forwarded. No validation, no retries, no metrics.
 */
export const MINIMAL_FORWARDER = `
import { createServer } from "node:http";
import { Pool } from "undici";
const CAPACITY = 10000, MAX_IN_FLIGHT = 100;
const subscriber = new URL(process.argv[1]);
const pool = new Pool(subscriber.origin, { connections: 64, pipelining: 1, keepAliveTimeout: 30000 });
const queue = [];
let head = 0, inFlight = 0;
const pump = () => {
  while (inFlight < MAX_IN_FLIGHT && head < queue.length) {
    const event = queue[head];
    queue[head++] = undefined;
    if (head > 1024 && head * 2 > queue.length) { queue.splice(0, head); head = 0; }
    inFlight++;
    pool.request({ method: "POST", path: subscriber.pathname, headers: event.headers, body: event.body })
      .then((response) => response.body.dump(), () => {})
      .finally(() => { inFlight--; pump(); });
  }
};
const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    if (queue.length - head >= CAPACITY) { res.writeHead(503); res.end(); return; }
    const headers = [];
    for (const [name, value] of Object.entries(req.headers))
      if (name.startsWith("ce-") || name === "content-type") headers.push(name, value);
    queue.push({ headers, body: Buffer.concat(chunks) });
    res.writeHead(202);
    res.end();
    pump();
  });
});
server.keepAliveTimeout = 65000;
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
`;

const CLOCK_TICKS_PER_SECOND = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
const PAGE_BYTES = Number(execFileSync("getconf", ["PAGESIZE"]).toString().trim()) || 4096;

/** CPU time (user + system, microseconds) and resident memory (bytes) of a process, from /proc. */
export function processUsage(pid: number): { cpuMicros: number; rssBytes: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // proc(5): the fields after the command name (which may hold spaces), from field 3 (state) on.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const rssPages = Number(fields[21]);
  return { cpuMicros: ((utime + stime) * 1e6) / CLOCK_TICKS_PER_SECOND, rssBytes: rssPages * PAGE_BYTES };
}

/** The 1, 5 and 15 minute load averages of the machine. */
export function loadAverage(): number[] {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).map(Number);
}
