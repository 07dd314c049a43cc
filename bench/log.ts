/**
 * LogChannel case: the embedded durable channel against the embedded in-memory one (what it replaces
 * as the default) and against Kafka (a durable broker), in the same run:
 *
 * - `adapter`: publish and delivery through the LogChannel and InMemoryChannel adapters in this
 *   process (`connections` publish loops, one event per publish awaiting its acceptance; one
 *   unordered subscription with `maxInFlight` 100), alternating, BENCH_RUNS times each (default 3):
 *   median and spread of events published and delivered per second, latency publish-to-handler, CPU
 *   per event, and for the log the syncs (`fdatasync`) per second and events per sync, which shows the
 *   group commit at work.
 * - `ingress`: Herald ingress (autocannon, `connections` connections) into a Channel of each kind in
 *   one Herald process: InMemoryChannel, LogChannel, and KafkaChannel on the Kafka at
 *   KAFKA_BOOTSTRAP_SERVERS (or 127.0.0.1:9092, started from the Maven-fetched jars when none answers).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import { pino } from "pino";
import type { ChannelAdapter, ChannelTarget } from "../adapters/adapter.js";
import { logConfig } from "../adapters/log/config.js";
import { LogChannelAdapter, logChannelPlugin } from "../adapters/log/index.js";
import { logChannelSpecSchema } from "../adapters/log/spec.js";
import { memoryConfig } from "../adapters/memory/config.js";
import { memoryChannelPlugin } from "../adapters/memory/index.js";
import type { CloudEvent } from "../src/events/event.js";
import { isKafkaReady, startKafka, type KafkaBroker } from "../test/support/kafka/broker.js";
import { EVENT_BODY, EVENT_HEADERS, HeraldProcess, load, ratio } from "./support.js";

interface Options {
  durationSeconds: number;
  connections: number;
}

interface Run {
  publishedPerSecond: number;
  deliveredPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  cpuMicrosPerEvent: number;
  syncsPerSecond: number;
  eventsPerSync: number;
  errors: number;
}

const MAX_IN_FLIGHT = 100;
const BODY = Buffer.from(EVENT_BODY);
const ATTRIBUTES = {
  specversion: "1.0",
  source: "/bench",
  type: "dev.herald.bench",
  datacontenttype: "application/json",
};

const quantile = (sorted: readonly number[], q: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const round = (value: number) => Math.round(value * 100) / 100;

/** One adapter under load: publish loops and one unordered subscription, then its figures. */
async function measure(adapter: ChannelAdapter, spec: unknown, options: Options): Promise<Run> {
  const channel: ChannelTarget = {
    namespace: "bench",
    name: `adapter-${randomUUID().slice(0, 8)}`,
    uid: randomUUID(),
    spec,
  };
  await adapter.createChannel(channel);
  const latencies: number[] = [];
  await adapter.subscribe(
    channel,
    {
      namespace: "bench",
      name: "bench",
      uid: randomUUID(),
      ordering: "unordered",
      maxInFlight: MAX_IN_FLIGHT,
    },
    async (event) => {
      latencies.push(performance.now() - Number(event.attributes.benchsent));
    },
  );
  // One deadline signal for the run: arming a timer per publish is ingress's cost, not the adapter's.
  const signal = new AbortController().signal;
  setMaxListeners(0, signal);
  const syncsBefore = adapter instanceof LogChannelAdapter ? (await adapter.stats()).syncs : 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const deadline = started + options.durationSeconds * 1_000;
  let published = 0;
  let errors = 0;
  let sequence = 0;
  await Promise.all(
    Array.from({ length: options.connections }, async () => {
      while (performance.now() < deadline) {
        const event: CloudEvent = {
          attributes: { ...ATTRIBUTES, id: `e-${++sequence}`, benchsent: String(performance.now()) },
          data: BODY,
        };
        try {
          await adapter.publish(channel, [event], { signal });
          published++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const publishSeconds = (performance.now() - started) / 1_000;
  const syncs = adapter instanceof LogChannelAdapter ? (await adapter.stats()).syncs - syncsBefore : 0;
  const drainDeadline = performance.now() + 60_000;
  while (latencies.length < published && performance.now() < drainDeadline)
    await new Promise((resolve) => setTimeout(resolve, 20));
  const elapsedSeconds = (performance.now() - started) / 1_000;
  const used = process.cpuUsage(cpu);
  await adapter.deleteChannel(channel);
  await adapter.close();
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    publishedPerSecond: Math.round(published / publishSeconds),
    deliveredPerSecond: Math.round(latencies.length / elapsedSeconds),
    latencyP50Ms: round(quantile(sorted, 0.5)),
    latencyP99Ms: round(quantile(sorted, 0.99)),
    cpuMicrosPerEvent: round((used.user + used.system) / Math.max(1, latencies.length)),
    syncsPerSecond: Math.round(syncs / publishSeconds),
    eventsPerSync: syncs === 0 ? 0 : round(published / syncs),
    errors,
  };
}

/** Median and spread of each figure over the runs. */
function summary(runs: readonly Run[]) {
  const keys = Object.keys(runs[0]!) as (keyof Run)[];
  return Object.fromEntries(
    keys.map((key) => {
      const values = runs.map((run) => run[key]).sort((a, b) => a - b);
      return [key, { median: values[Math.floor(values.length / 2)]!, min: values[0]!, max: values.at(-1)! }];
    }),
  ) as Record<keyof Run, { median: number; min: number; max: number }>;
}

export async function benchLogAdapter(options: Options) {
  const runs = Number(process.env.BENCH_RUNS ?? 3);
  const logger = pino({ level: "silent" });
  const dir = await mkdtemp(join(tmpdir(), "herald-bench-log-"));
  const log: Run[] = [];
  const memory: Run[] = [];
  try {
    for (let run = 0; run < runs; run++) {
      const memoryAdapter = memoryChannelPlugin.create({ config: memoryConfig.schema.parse({}), logger });
      memory.push(await measure(memoryAdapter, {}, options));
      const logAdapter = logChannelPlugin.create({ config: logConfig.schema.parse({ dir }), logger });
      log.push(await measure(logAdapter, logChannelSpecSchema.parse({}), options));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const logSummary = summary(log);
  const memorySummary = summary(memory);
  return {
    runs,
    maxInFlight: MAX_IN_FLIGHT,
    logChannel: logSummary,
    inMemoryChannel: memorySummary,
    ratios: {
      publishLogVsMemory: ratio(
        logSummary.publishedPerSecond.median,
        memorySummary.publishedPerSecond.median,
      ),
      deliveryLogVsMemory: ratio(
        logSummary.deliveredPerSecond.median,
        memorySummary.deliveredPerSecond.median,
      ),
    },
  };
}

/** Herald ingress into a Channel of each kind, in one Herald process. */
export async function benchLogIngress(options: Options) {
  const configured = process.env.KAFKA_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092";
  let broker: KafkaBroker | undefined;
  if (!(await isKafkaReady(configured))) broker = await startKafka(Number(configured.split(":").pop()));
  const bootstrap = broker?.bootstrap ?? configured;
  const herald = await HeraldProcess.start({
    env: { HERALD_LOG_LEVEL: "error", HERALD_KAFKA_BOOTSTRAP_SERVERS: bootstrap },
  });
  const templates = {
    inMemoryChannel: "{ apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel }",
    logChannel: "{ apiVersion: messaging.herald.dev/v1alpha1, kind: LogChannel }",
    kafkaChannel: "{ apiVersion: messaging.knative.dev/v1beta1, kind: KafkaChannel }",
  };
  const loadOptions = { ...options, headers: EVENT_HEADERS, body: EVENT_BODY };
  try {
    const results: Record<string, Awaited<ReturnType<typeof load>>> = {};
    for (const [kind, template] of Object.entries(templates)) {
      const name = `bench-${kind.toLowerCase()}`;
      await herald.apply(`
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: ${name} }
spec: { channelTemplate: ${template} }
`);
      results[kind] = await load(herald.channelUrl(name), loadOptions);
    }
    const memory = results.inMemoryChannel!.requestsPerSecond;
    return {
      ...results,
      ratios: {
        logVsMemory: ratio(results.logChannel!.requestsPerSecond, memory),
        kafkaVsMemory: ratio(results.kafkaChannel!.requestsPerSecond, memory),
        logVsKafka: ratio(results.logChannel!.requestsPerSecond, results.kafkaChannel!.requestsPerSecond),
      },
    };
  } finally {
    await herald.close();
    await broker?.destroy();
  }
}

export async function benchLog(options: Options) {
  return { adapter: await benchLogAdapter(options), ingress: await benchLogIngress(options) };
}
