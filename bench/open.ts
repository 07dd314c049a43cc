/**
 * Open-loop core benchmark: delivery through Herald against a minimal Node forwarder and a bare
 * node:http server, with the same generator, event and subscriber, runs interleaved (run 1 of every
 * target, then run 2...), each run on freshly started processes. See BENCHMARKS.md for the method.
 */
import { measureTarget, type MeasureOptions, type TargetRun } from "./open-loop/measure.js";
import { HDR_SUBSCRIBER, loadAverage } from "./open-loop/processes.js";
import { OPEN_LOOP_TARGETS, type TargetKind } from "./open-loop/targets.js";
import { startScript } from "./support.js";

export { heraldTarget } from "./open-loop/herald-target.js";

export interface OpenLoopOptions extends MeasureOptions {
  runs: number;
  targets: string[];
}

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(values: number[]): Spread | undefined {
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
