/**
 * Open-loop measurement of one target: steps at a constant offered rate, the ladder that finds the
 * maximum sustainable throughput, latency at fixed rates below it, cold and warm, and the saturated
 * closed-loop figures as a secondary reading.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { EVENT_BODY, EVENT_HEADERS, load } from "../support.js";
import { LoadGenerator, type StepLoad } from "./generator.js";
import { processUsage } from "./processes.js";

/** A system under test: where events go in, the process doing the work, whether it delivers. */
export interface Target {
  url: string;
  pid: number;
  /** False for the bare server, which answers and delivers nothing: its latency is ingress latency. */
  delivers: boolean;
  stop(): Promise<void>;
}

export interface MeasureOptions {
  ladder: number[];
  stepSeconds: number;
  latencySeconds: number;
  warmupSeconds: number;
  closedSeconds: number;
  generatorConnections: number;
  closedConnections: number;
  /** The step limits of a sustainable rate. */
  maxP99Ms: number;
  minDeliveredWithinStep: number;
}

export interface Step {
  offeredPerSecond: number;
  issuedPerSecond: number;
  generatorMaxLagMs: number;
  accepted: number;
  non2xx: number;
  errors: number;
  delivered: number;
  /** Share of the issued events delivered when the generator finished the step. */
  deliveredWithinStep: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  cpuMicrosPerEvent: number;
  rssMiB: number;
}

export interface TargetRun {
  /** The highest sustained rate of the ladder (see isSustainable). */
  maxSustainablePerSecond: number;
  /** The highest rate the target kept up with (see keepsUp), whatever its latency. */
  maxKeptUpPerSecond: number;
  ladder: Step[];
  cold1k: Step;
  at1k: Step;
  at50: Step | undefined;
  at80: Step | undefined;
  closedLoop: { requestsPerSecond: number; deliveredPerSecond: number; non2xx: number } | undefined;
}

interface SubscriberStats {
  count: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

const round = (value: number) => Math.round(value * 100) / 100;

async function statsOf(subscriber: string): Promise<SubscriberStats> {
  return (await (await fetch(`${subscriber}stats`)).json()) as SubscriberStats;
}

/** Waits until the subscriber's count stops moving (a previous step's backlog has drained). */
async function settle(subscriber: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  for (;;) {
    const { count } = await statsOf(subscriber);
    if (count === last || Date.now() > deadline) return;
    last = count;
    await sleep(300);
  }
}

async function step(
  target: Target,
  generator: LoadGenerator,
  subscriber: string,
  rate: number,
  seconds: number,
  log: (line: string) => void,
): Promise<Step> {
  if (target.delivers) {
    await settle(subscriber);
    await fetch(`${subscriber}stats`, { method: "DELETE" });
  }
  const before = processUsage(target.pid);
  const sent: StepLoad = await generator.run(rate, seconds);
  if (sent.firstError) log(`${sent.errors} requests failed, the first with: ${sent.firstError}`);
  let stats: SubscriberStats = {
    count: sent.accepted,
    p50Ms: sent.ingressP50Ms,
    p99Ms: sent.ingressP99Ms,
    p999Ms: sent.ingressMaxMs,
    maxMs: sent.ingressMaxMs,
  };
  let deliveredAtEnd = sent.accepted;
  if (target.delivers) {
    deliveredAtEnd = (await statsOf(subscriber)).count;
    // The stragglers of a step that kept up arrive within a second; a backlog does not.
    const deadline = Date.now() + 1_000;
    stats = await statsOf(subscriber);
    while (stats.count < sent.accepted && Date.now() < deadline) {
      await sleep(50);
      stats = await statsOf(subscriber);
    }
  }
  const after = processUsage(target.pid);
  return {
    offeredPerSecond: rate,
    issuedPerSecond: sent.issuedPerSecond,
    generatorMaxLagMs: sent.maxLagMs,
    accepted: sent.accepted,
    non2xx: sent.non2xx,
    errors: sent.errors,
    delivered: stats.count,
    deliveredWithinStep: round(deliveredAtEnd / sent.issued),
    p50Ms: stats.p50Ms,
    p99Ms: stats.p99Ms,
    p999Ms: stats.p999Ms,
    maxMs: stats.maxMs,
    cpuMicrosPerEvent: stats.count ? Math.round((after.cpuMicros - before.cpuMicros) / stats.count) : 0,
    rssMiB: round(after.rssBytes / 2 ** 20),
  };
}

/** ≥99% delivered within the step (so the backlog stays bounded), no errors, and the generator kept the rate. */
export function keepsUp(result: Step, options: MeasureOptions): boolean {
  return (
    result.errors === 0 &&
    result.non2xx === 0 &&
    result.deliveredWithinStep >= options.minDeliveredWithinStep &&
    result.issuedPerSecond >= 0.97 * result.offeredPerSecond
  );
}

/** Kept up, and p99 end-to-end latency under the limit. */
export function isSustainable(result: Step, options: MeasureOptions): boolean {
  return keepsUp(result, options) && result.p99Ms < options.maxP99Ms;
}

/** Closed loop at saturation (autocannon, fixed connections): what the old benchmark reported. */
async function closedLoop(target: Target, subscriber: string, options: MeasureOptions) {
  if (target.delivers) {
    await settle(subscriber);
    await fetch(`${subscriber}stats`, { method: "DELETE" });
  }
  const started = performance.now();
  const sent = await load(target.url, {
    durationSeconds: options.closedSeconds,
    connections: options.closedConnections,
    headers: EVENT_HEADERS,
    body: EVENT_BODY,
  });
  let delivered = sent.requests - sent.non2xx - sent.errors;
  if (target.delivers) {
    const deadline = Date.now() + 60_000;
    while ((delivered = (await statsOf(subscriber)).count) < sent.requests - sent.non2xx - sent.errors) {
      if (Date.now() > deadline) break;
      await sleep(100);
    }
  }
  const elapsedSeconds = (performance.now() - started) / 1000;
  return {
    requestsPerSecond: Math.round(sent.requestsPerSecond),
    deliveredPerSecond: Math.round(delivered / elapsedSeconds),
    non2xx: sent.non2xx,
  };
}

/**
 * One run against a freshly started target: a cold step at 1k events/s, the warm-up (the same load),
 * the ladder up to the first unsustainable rate, then 1k/s, 50% and 80% of the maximum, then the
 * closed loop. `subscriber` is the subscriber's base URL (ending in `/`).
 */
export async function measureTarget(
  target: Target,
  subscriber: string,
  options: MeasureOptions,
  log: (line: string) => void,
): Promise<TargetRun> {
  const generator = await LoadGenerator.start(target.url, {
    headers: EVENT_HEADERS,
    body: EVENT_BODY,
    connections: options.generatorConnections,
  });
  try {
    const cold1k = await step(target, generator, subscriber, 1000, options.latencySeconds, log);
    log(`cold 1k/s: p99 ${cold1k.p99Ms} ms`);
    if (options.warmupSeconds > 0) await generator.run(1000, options.warmupSeconds);
    const ladder: Step[] = [];
    let maxSustainablePerSecond = 0;
    let maxKeptUpPerSecond = 0;
    // Up the ladder until the target no longer keeps up; on a shared machine the latency limit can
    // fail below that, so both rates are kept.
    for (const rate of options.ladder) {
      const result = await step(target, generator, subscriber, rate, options.stepSeconds, log);
      ladder.push(result);
      const sustainable = isSustainable(result, options);
      log(
        `${rate}/s: ${sustainable ? "sustained" : keepsUp(result, options) ? "kept up" : "fell behind"} ` +
          `(p99 ${result.p99Ms} ms, ${Math.round(result.deliveredWithinStep * 100)}% in step, ` +
          `${result.non2xx + result.errors} errors, generator lag ${result.generatorMaxLagMs} ms)`,
      );
      if (!keepsUp(result, options)) break;
      maxKeptUpPerSecond = rate;
      if (sustainable) maxSustainablePerSecond = rate;
    }
    const at = async (rate: number) => {
      const result = await step(target, generator, subscriber, rate, options.latencySeconds, log);
      log(`latency at ${rate}/s: p50 ${result.p50Ms} p99 ${result.p99Ms} max ${result.maxMs} ms`);
      return result;
    };
    // 50% and 80% of the maximum sustainable rate, or of the kept-up rate when none was sustained.
    const maximum = maxSustainablePerSecond || maxKeptUpPerSecond;
    const roundedShare = (share: number) => Math.max(100, Math.round((maximum * share) / 100) * 100);
    const at1k = await at(1000);
    const at50 = maximum ? await at(roundedShare(0.5)) : undefined;
    const at80 = maximum ? await at(roundedShare(0.8)) : undefined;
    const closed = options.closedSeconds > 0 ? await closedLoop(target, subscriber, options) : undefined;
    return {
      maxSustainablePerSecond,
      maxKeptUpPerSecond,
      ladder,
      cold1k,
      at1k,
      at50,
      at80,
      closedLoop: closed,
    };
  } finally {
    await generator.close();
  }
}
