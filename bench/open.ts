/**
 * Open-loop core benchmark: delivery through Herald against a minimal Node forwarder and a bare
 * node:http server, with the same generator, event and subscriber, runs interleaved (run 1 of every
 * target, then run 2...), each run on freshly started processes. See BENCHMARKS.md for the method.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { measureTarget, type MeasureOptions, type Target, type TargetRun } from "./open-loop/measure.js";
import { HDR_SUBSCRIBER, MINIMAL_FORWARDER, loadAverage } from "./open-loop/processes.js";
import { BARE_SERVER, EVENT_BODY, EVENT_HEADERS, HeraldProcess, startScript } from "./support.js";

export interface OpenLoopOptions extends MeasureOptions {
  runs: number;
  targets: string[];
}

async function scriptTarget(source: string, args: string[], delivers: boolean): Promise<Target> {
  const script = await startScript(source, args);
  return {
    url: `http://127.0.0.1:${script.port}/`,
    pid: script.child.pid!,
    delivers,
    stop: () => script.stop(),
  };
}

/** Herald (`herald serve`, default settings) with one channel of `kind` and one Subscription to the subscriber. */
async function heraldTarget(apiVersion: string, kind: string, subscriber: string): Promise<Target> {
  const herald = await HeraldProcess.start({ env: { HERALD_LOG_LEVEL: "error" } });
  await herald.apply(`
apiVersion: ${apiVersion}
kind: ${kind}
metadata: { name: bench }
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: bench }
spec:
  channel: { apiVersion: ${apiVersion}, kind: ${kind}, name: bench }
  subscriber: { uri: "${subscriber}" }
`);
  const url = herald.channelUrl("bench");
  // Ready means one event went through: the subscription is consuming.
  const before = await count(subscriber);
  const deadline = Date.now() + 30_000;
  while ((await count(subscriber)) === before) {
    if (Date.now() > deadline) throw new Error(`the ${kind} subscription delivers nothing`);
    const response = await fetch(url, { method: "POST", headers: EVENT_HEADERS, body: EVENT_BODY });
    await response.body?.cancel();
    await sleep(200);
  }
  return { url, pid: herald.child!.pid!, delivers: true, stop: () => herald.close() };
}

async function count(subscriber: string): Promise<number> {
  return ((await (await fetch(`${subscriber}stats`)).json()) as { count: number }).count;
}

export const OPEN_LOOP_TARGETS: Record<
  string,
  { label: string; start(subscriber: string): Promise<Target> }
> = {
  bare: {
    label: "bare node:http server answering 202 (ingress only: no delivery)",
    start: () => scriptTarget(BARE_SERVER, [], false),
  },
  forwarder: {
    label: "minimal Node forwarder (node:http → FIFO → undici Pool → subscriber)",
    start: (subscriber) => scriptTarget(MINIMAL_FORWARDER, [subscriber], true),
  },
  memory: {
    label: "Herald, InMemoryChannel + Subscription",
    start: (subscriber) => heraldTarget("messaging.knative.dev/v1", "InMemoryChannel", subscriber),
  },
  log: {
    label: "Herald, LogChannel (the default) + Subscription",
    start: (subscriber) => heraldTarget("messaging.herald.dev/v1alpha1", "LogChannel", subscriber),
  },
};

export interface Spread {
  median: number;
  min: number;
  max: number;
}

function spread(values: number[]): Spread | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median: Math.round(median * 100) / 100, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

const POINTS = ["cold1k", "at1k", "at50", "at80"] as const;
const FIGURES = [
  "offeredPerSecond",
  "p50Ms",
  "p99Ms",
  "p999Ms",
  "maxMs",
  "cpuMicrosPerEvent",
  "rssMiB",
] as const;

/** Median and spread (min–max) over the runs of every reported figure. */
export function summarise(runs: TargetRun[]) {
  const of = (pick: (run: TargetRun) => number | undefined) =>
    spread(runs.map(pick).filter((value): value is number => value !== undefined));
  const points = Object.fromEntries(
    POINTS.map((point) => [
      point,
      Object.fromEntries(FIGURES.map((figure) => [figure, of((run) => run[point]?.[figure])])),
    ]),
  );
  return {
    maxSustainablePerSecond: of((run) => run.maxSustainablePerSecond),
    ...points,
    closedLoopRequestsPerSecond: of((run) => run.closedLoop?.requestsPerSecond),
    closedLoopDeliveredPerSecond: of((run) => run.closedLoop?.deliveredPerSecond),
  } as Record<string, unknown>;
}

export async function benchOpenLoop(options: OpenLoopOptions) {
  const log = (line: string) => console.error(`[open] ${line}`);
  const loadBefore = loadAverage();
  const subscriberProcess = await startScript(HDR_SUBSCRIBER);
  const subscriber = `http://127.0.0.1:${subscriberProcess.port}/`;
  const runs: Record<string, TargetRun[]> = Object.fromEntries(options.targets.map((name) => [name, []]));
  const loadDuring: number[] = [];
  try {
    for (let run = 1; run <= options.runs; run++) {
      for (const name of options.targets) {
        log(`run ${run}/${options.runs}: ${name}`);
        const target = await OPEN_LOOP_TARGETS[name]!.start(subscriber);
        try {
          runs[name]!.push(
            await measureTarget(target, subscriber, options, (line) => log(`${name}: ${line}`)),
          );
        } finally {
          await target.stop();
        }
        loadDuring.push(loadAverage()[0]!);
      }
    }
  } finally {
    await subscriberProcess.stop();
  }
  const { runs: _runs, targets: _targets, ...method } = options;
  return {
    method: { ...method, runs: options.runs },
    loadAverage: { before: loadBefore, oneMinuteDuring: loadDuring, after: loadAverage() },
    targets: Object.fromEntries(
      options.targets.map((name) => [
        name,
        { label: OPEN_LOOP_TARGETS[name]!.label, summary: summarise(runs[name]!), runs: runs[name] },
      ]),
    ),
  };
}
