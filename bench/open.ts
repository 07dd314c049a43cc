/**
 * Open-loop core benchmark: delivery through Herald against a minimal Node forwarder and a bare
 * node:http server, with the same generator, event and subscriber, runs interleaved (run 1 of every
 * target, then run 2...), each run on freshly started processes. See BENCHMARKS.md for the method.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "../test/support/herald.js";
import { measureTarget, type MeasureOptions, type Target, type TargetRun } from "./open-loop/measure.js";
import { KAFKA_FORWARDER } from "./open-loop/kafka-forwarder.js";
import { HDR_SUBSCRIBER, MINIMAL_FORWARDER, loadAverage } from "./open-loop/processes.js";
import { BARE_SERVER, EVENT_BODY, EVENT_HEADERS, startScript } from "./support.js";

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

/**
 * `herald serve` with its defaults (through tsx, as `npm start`), run from `checkout`: this one, or
 * another checkout of Herald to compare two versions in one run.
 */
async function startHerald(checkout: string, nodeArgs: string[] = []) {
  const port = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), "herald-bench-"));
  const child = spawn(
    process.execPath,
    [
      ...nodeArgs,
      "--import",
      "tsx",
      "src/cli/main.ts",
      "serve",
      "--port",
      String(port),
      "--data-dir",
      dataDir,
    ],
    {
      cwd: checkout,
      env: { ...process.env, HERALD_LOG_LEVEL: "error" },
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ready = await fetch(`${url}/readyz`).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`Herald in ${checkout} did not start`);
    await sleep(200);
  }
  return {
    url,
    pid: child.pid!,
    apply: async (yaml: string) => {
      const response = await fetch(`${url}/apply`, {
        method: "POST",
        headers: { "content-type": "application/yaml" },
        body: yaml,
      });
      if (response.status !== 200)
        throw new Error(`apply failed (${response.status}): ${await response.text()}`);
    },
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Herald with one channel of `kind` and one Subscription to the subscriber. */
export async function heraldTarget(
  apiVersion: string,
  kind: string,
  subscriber: string,
  checkout: string,
  nodeArgs: string[] = [],
): Promise<Target> {
  const herald = await startHerald(checkout, nodeArgs);
  // A new name each time: a KafkaChannel's topic and consumer group are named after it.
  const name = `bench-${Date.now().toString(36)}`;
  try {
    await herald.apply(`
apiVersion: ${apiVersion}
kind: ${kind}
metadata: { name: ${name} }
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: ${name} }
spec:
  channel: { apiVersion: ${apiVersion}, kind: ${kind}, name: ${name} }
  subscriber: { uri: "${subscriber}" }
`);
    const url = `${herald.url}/channels/default/${name}`;
    await untilDelivering(url, subscriber, kind);
    return { url, pid: herald.pid, delivers: true, stop: herald.stop };
  } catch (error) {
    await herald.stop();
    throw error;
  }
}

/** Sends single events until one reaches the subscriber: the target is consuming. */
async function untilDelivering(url: string, subscriber: string, what: string): Promise<void> {
  const before = await count(subscriber);
  const deadline = Date.now() + 60_000;
  while ((await count(subscriber)) === before) {
    if (Date.now() > deadline) throw new Error(`the ${what} delivers nothing`);
    const response = await fetch(url, { method: "POST", headers: EVENT_HEADERS, body: EVENT_BODY });
    await response.body?.cancel();
    await sleep(200);
  }
}

async function count(subscriber: string): Promise<number> {
  return ((await (await fetch(`${subscriber}stats`)).json()) as { count: number }).count;
}

interface TargetKind {
  label: string;
  start(subscriber: string, checkout: string): Promise<Target>;
}

/** The targets by name; `memory@<dir>` and `log@<dir>` run Herald from the checkout in `<dir>`. */
export const OPEN_LOOP_TARGETS: Record<string, TargetKind> = {
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
    start: (subscriber, checkout) =>
      heraldTarget("messaging.knative.dev/v1", "InMemoryChannel", subscriber, checkout),
  },
  kafka: {
    label: "Herald, KafkaChannel (1 partition) + Subscription",
    start: (subscriber, checkout) =>
      heraldTarget("messaging.knative.dev/v1beta1", "KafkaChannel", subscriber, checkout),
  },
  "kafka-baseline": {
    label: "kafkajs forwarder, same group commit and consumer strategy",
    start: async (subscriber) => {
      const topic = `herald-bench-baseline-${Date.now().toString(36)}`;
      const target = await scriptTarget(KAFKA_FORWARDER, [subscriber, topic, "127.0.0.1:9092"], true);
      await untilDelivering(target.url, subscriber, "Kafka baseline");
      return target;
    },
  },
  log: {
    label: "Herald, LogChannel (the default) + Subscription",
    start: (subscriber, checkout) =>
      heraldTarget("messaging.herald.dev/v1alpha1", "LogChannel", subscriber, checkout),
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
    maxKeptUpPerSecond: of((run) => run.maxKeptUpPerSecond),
    ...points,
    closedLoopRequestsPerSecond: of((run) => run.closedLoop?.requestsPerSecond),
    closedLoopDeliveredPerSecond: of((run) => run.closedLoop?.deliveredPerSecond),
  } as Record<string, unknown>;
}

function targetOf(name: string): { kind: TargetKind; label: string; checkout: string } {
  const [kindName = "", checkout] = name.split("@");
  const kind = OPEN_LOOP_TARGETS[kindName];
  if (!kind)
    throw new Error(`unknown open-loop target ${name}; known: ${Object.keys(OPEN_LOOP_TARGETS).join(", ")}`);
  return {
    kind,
    label: checkout ? `${kind.label}, checkout ${checkout}` : kind.label,
    checkout: checkout ?? process.cwd(),
  };
}

export async function benchOpenLoop(options: OpenLoopOptions) {
  for (const name of options.targets) targetOf(name);
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
        const { kind, checkout } = targetOf(name);
        const target = await kind.start(subscriber, checkout);
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
        { label: targetOf(name).label, summary: summarise(runs[name]!), runs: runs[name] },
      ]),
    ),
  };
}
