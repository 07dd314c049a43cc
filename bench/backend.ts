/**
 * Shared shape of a backend benchmark: Herald ingress into a channel of the backend's kind, against
 * the backend's own client publishing the same events to the same broker in the same run, then
 * Herald end to end to one subscriber.
 */
import {
  COUNTING_SUBSCRIBER,
  EVENT_BODY,
  EVENT_HEADERS,
  HeraldProcess,
  load,
  ratio,
  startScript,
  type LoadResult,
} from "./support.js";

export interface RawPublisher {
  /** Publishes one event with the backend's client and resolves once the backend acknowledged it. */
  publish(id: string): Promise<void>;
  close(): Promise<void>;
}

/** Runs `connections` concurrent publish loops for `durationSeconds`; reports like autocannon. */
export async function loadRaw(
  publisher: RawPublisher,
  options: { durationSeconds: number; connections: number },
): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let sequence = 0;
  const deadline = performance.now() + options.durationSeconds * 1000;
  await Promise.all(
    Array.from({ length: options.connections }, async () => {
      while (performance.now() < deadline) {
        const started = performance.now();
        try {
          await publisher.publish(`raw-${++sequence}`);
          latencies.push(performance.now() - started);
        } catch {
          errors++;
        }
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0) * 100) /
    100;
  return {
    requestsPerSecond: Math.round(latencies.length / options.durationSeconds),
    latencyP50Ms: at(0.5),
    latencyP99Ms: at(0.99),
    non2xx: 0,
    errors,
    requests: latencies.length,
  };
}

export async function benchBackend(options: {
  durationSeconds: number;
  connections: number;
  /** `serve --workers` of the Herald under test (BENCH_WORKERS; 1 by default). */
  workers?: number | undefined;
  env: Record<string, string>;
  /** YAML `spec.channelTemplate` of the channel under test. */
  channelTemplate: string;
  raw: () => Promise<RawPublisher>;
  /**
   * Called once the ingress channel exists, before its load, with its name; what it returns runs
   * after the load (RabbitMQ binds a queue to the channel's exchange, as a Subscription would).
   */
  prepareIngress?: (channel: string) => Promise<() => Promise<void>>;
}) {
  const loadOptions = {
    durationSeconds: options.durationSeconds,
    connections: options.connections,
    headers: EVENT_HEADERS,
    body: EVENT_BODY,
  };
  const publisher = await options.raw();
  const raw = await loadRaw(publisher, options).finally(() => publisher.close());

  const subscriber = await startScript(COUNTING_SUBSCRIBER);
  const workers = options.workers ?? 1;
  // Several workers need a default channel kind they share: the backend's own.
  const kind = /kind: (\w+)/.exec(options.channelTemplate)?.[1];
  const herald = await HeraldProcess.start({
    env: {
      HERALD_LOG_LEVEL: "error",
      HERALD_WORKERS: String(workers),
      ...(workers > 1 && kind ? { HERALD_DEFAULT_CHANNEL_KIND: kind } : {}),
      ...options.env,
    },
  });
  const channel = (name: string) => `
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: ${name} }
spec:
  channelTemplate:
${options.channelTemplate}
`;
  // New names each time: a backend's topic, exchange or stream outlives Herald and is named after them.
  const suffix = Date.now().toString(36);
  const [ingressName, e2eName] = [`bench-ingress-${suffix}`, `bench-e2e-${suffix}`];
  try {
    await herald.apply(channel(ingressName));
    const cleanUp = await options.prepareIngress?.(ingressName);
    const ingress = await load(herald.channelUrl(ingressName), loadOptions).finally(() => cleanUp?.());
    await herald.apply(`${channel(e2eName)}---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: ${e2eName} }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: ${e2eName} }
  subscriber: { uri: "http://127.0.0.1:${subscriber.port}/" }
`);
    const started = performance.now();
    const sent = await load(herald.channelUrl(e2eName), { ...loadOptions, stamp: true });
    const expected = sent.requests - sent.non2xx - sent.errors;
    const deadline = Date.now() + 120_000;
    let stats = { count: 0, p50: 0, p99: 0 };
    while (Date.now() < deadline) {
      stats = (await (await fetch(`http://127.0.0.1:${subscriber.port}/stats`)).json()) as typeof stats;
      if (stats.count >= expected) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const elapsedSeconds = (performance.now() - started) / 1000;
    return {
      workers,
      rawClient: raw,
      heraldIngress: ingress,
      heraldEndToEnd: {
        ingress: sent,
        delivered: stats.count,
        eventsPerSecond: Math.round(stats.count / elapsedSeconds),
        latencyP50Ms: Math.round(stats.p50 * 100) / 100,
        latencyP99Ms: Math.round(stats.p99 * 100) / 100,
      },
      ratios: { ingressVsRawClient: ratio(ingress.requestsPerSecond, raw.requestsPerSecond) },
    };
  } finally {
    await herald.close();
    await subscriber.stop();
  }
}

/** What one round of benchBackend measured. */
export type BackendRound = Awaited<ReturnType<typeof benchBackend>>;

/** The figures every backend case summarises over its rounds: the raw client's and Herald's. */
export const backendFigures = {
  rawClientPerSecond: (round: BackendRound) => round.rawClient.requestsPerSecond,
  heraldIngressPerSecond: (round: BackendRound) => round.heraldIngress.requestsPerSecond,
  heraldEndToEndPerSecond: (round: BackendRound) => round.heraldEndToEnd.eventsPerSecond,
  heraldEndToEndP50Ms: (round: BackendRound) => round.heraldEndToEnd.latencyP50Ms,
  heraldEndToEndP99Ms: (round: BackendRound) => round.heraldEndToEnd.latencyP99Ms,
};

/** The load every backend case reports in its method. */
export function backendMethod(options: {
  runs: number;
  durationSeconds: number;
  connections: number;
  workers?: number | undefined;
}) {
  const { runs, durationSeconds, connections, workers } = options;
  return { runs, durationSeconds, connections, workers: workers ?? 1 };
}
