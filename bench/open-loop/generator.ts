/**
 * The open-loop load generator: a worker thread that sends by the clock at a constant arrival rate,
 * whatever the server answers (an open model: a slow answer does not delay the next send). Each
 * event carries its *intended* send time in the `ce-benchintended` extension (epoch milliseconds), so
 * a subscriber measures latency from when the event should have left, and a stall of the generator
 * or of the server counts in full (no coordinated omission).
 */
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";

/** The generator's account of one step: what it sent, what was answered, ingress latency. */
export interface StepLoad {
  offeredPerSecond: number;
  /** Events issued, and the rate they were issued at (equals the offered rate unless the generator lags). */
  issued: number;
  issuedPerSecond: number;
  /** The latest an event left after its intended time, in ms: how far the generator fell behind. */
  maxLagMs: number;
  accepted: number;
  non2xx: number;
  /** Failed requests, and those unanswered after the drain. */
  errors: number;
  firstError?: string | undefined;
  /** Answers per second, from the first intended send to the last answer. */
  answeredPerSecond: number;
  /** Intended send time to the answer, ms. */
  ingressP50Ms: number;
  ingressP99Ms: number;
  ingressMaxMs: number;
}

/** CommonJS, run with `eval`; undici and hdr-histogram-js are imported by absolute URL. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
(async () => {
  const { Pool } = await import(workerData.undiciUrl);
  const hdr = await import(workerData.hdrUrl);
  const target = new URL(workerData.url);
  const pool = new Pool(target.origin, { connections: workerData.connections, pipelining: 1, keepAliveTimeout: 30000 });
  const path = target.pathname + target.search;
  const body = Buffer.from(workerData.body);
  const baseHeaders = Object.entries(workerData.headers).filter(([name]) => name !== "ce-id").flat();
  let runs = 0;
  parentPort.on("message", async (step) => {
    runs++;
    const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3600000000, numberOfSignificantValueDigits: 3 });
    const interval = 1000 / step.rate;
    const total = Math.max(1, Math.round(step.rate * step.seconds));
    const start = performance.now() + 5;
    let firstError;
    let issued = 0, accepted = 0, non2xx = 0, errors = 0, outstanding = 0, maxLagMs = 0, lastAnswer = start;
    const send = (intended) => {
      outstanding++;
      const headers = baseHeaders.concat("ce-id", runs + "-" + issued, "ce-benchintended", String(performance.timeOrigin + intended));
      pool.request({ method: "POST", path, headers, body }).then(
        async (response) => {
          await response.body.dump();
          if (response.statusCode >= 200 && response.statusCode < 300) accepted++; else non2xx++;
          lastAnswer = performance.now();
          histogram.recordValue(Math.max(1, Math.round((lastAnswer - intended) * 1000)));
        },
        (error) => { errors++; firstError ??= String(error && error.message); },
      ).finally(() => { outstanding--; });
    };
    while (issued < total) {
      const now = performance.now();
      const due = Math.min(total, Math.floor((now - start) / interval) + 1);
      while (issued < due) {
        const intended = start + issued * interval;
        if (now - intended > maxLagMs) maxLagMs = now - intended;
        send(intended);
        issued++;
      }
      const waitMs = start + issued * interval - performance.now();
      await new Promise((resolve) => (waitMs >= 1 ? setTimeout(resolve, Math.floor(waitMs)) : setImmediate(resolve)));
    }
    const issuedFor = performance.now() - start;
    const drainDeadline = performance.now() + step.drainMs;
    while (outstanding > 0 && performance.now() < drainDeadline) await new Promise((resolve) => setTimeout(resolve, 10));
    const ms = (value) => Math.round(value / 10) / 100;
    parentPort.postMessage({
      offeredPerSecond: step.rate,
      issued,
      issuedPerSecond: Math.round(issued / (Math.max(issuedFor, interval * issued) / 1000)),
      maxLagMs: Math.round(maxLagMs * 100) / 100,
      accepted, non2xx, errors: errors + outstanding, firstError,
      answeredPerSecond: Math.round((accepted + non2xx) / ((lastAnswer - start) / 1000)),
      ingressP50Ms: ms(histogram.getValueAtPercentile(50)),
      ingressP99Ms: ms(histogram.getValueAtPercentile(99)),
      ingressMaxMs: ms(histogram.maxValue),
    });
  });
  parentPort.postMessage("ready");
})();
`;

function moduleUrl(name: string): string {
  return pathToFileURL(createRequire(import.meta.url).resolve(name)).href;
}

/** One generator per target URL; its connection pool is reused from step to step. */
export class LoadGenerator {
  private constructor(private readonly worker: Worker) {}

  static async start(
    url: string,
    options: { headers: Record<string, string>; body: string; connections: number },
  ): Promise<LoadGenerator> {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        url,
        ...options,
        undiciUrl: moduleUrl("undici"),
        hdrUrl: moduleUrl("hdr-histogram-js"),
      },
    });
    await new Promise<void>((resolve, reject) => {
      worker.once("message", () => resolve());
      worker.once("error", reject);
    });
    return new LoadGenerator(worker);
  }

  /** Sends at `rate` events/s for `seconds`, then waits (at most `drainMs`) for the answers. */
  run(rate: number, seconds: number, drainMs = 10_000): Promise<StepLoad> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.worker.once("error", onError);
      this.worker.once("message", (load: StepLoad) => {
        this.worker.off("error", onError);
        resolve(load);
      });
      this.worker.postMessage({ rate, seconds, drainMs });
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
