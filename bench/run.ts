/**
 * `npm run bench [-- case ...]`: runs the benchmark cases (all by default), prints one JSON document,
 * merges each case's result into bench/results.json and regenerates BENCHMARKS.md from that file.
 * Each case compares Herald against a baseline measured in the same run.
 *
 * BENCH_DURATION (seconds per load phase) and BENCH_CONNECTIONS tune the closed-loop cases, and
 * BENCH_WORKERS runs Herald with `serve --workers` in the kafka, rabbitmq and pubsub cases (kept
 * in bench/results.json as kafka-workers-N...); kafka and
 * rabbitmq run BENCH_RUNS rounds (3) against Kafka's own tools and RabbitMQ PerfTest (java, their jars
 * fetched by Maven on first use), kafka's sized by BENCH_KAFKA_RECORDS and BENCH_KAFKA_LATENCY_MESSAGES. The
 * open-loop case (`open`) reads BENCH_RUNS (3), BENCH_STEP_SECONDS (5), BENCH_LATENCY_SECONDS (10),
 * BENCH_WARMUP_SECONDS (10), BENCH_CLOSED_SECONDS (5; 0 skips the closed loop), BENCH_LADDER (the
 * offered rates, comma-separated), BENCH_TARGETS (bare,forwarder,memory,log); `profile`
 * BENCH_PROFILE_RATE (1000), BENCH_PROFILE_SECONDS (10), BENCH_PROFILE_CHANNELS (the delivery paths:
 * memory,kafka,rabbitmq,pubsub) and BENCH_PROFILE_INGRESS (the ingress paths at saturation, with
 * BENCH_CONNECTIONS: kafka,rabbitmq). BENCH_WRITE=0 prints only. BENCH_SNAPSHOT=<name>
 * also keeps this run's results under that name (a before/after comparison in BENCHMARKS.md).
 */
import { availableParallelism, cpus, totalmem } from "node:os";
import { benchCore } from "./core.js";
import { benchOpenLoop } from "./open.js";
import { benchProfile } from "./profile.js";
import { loadAverage } from "./open-loop/processes.js";
import { writeResults } from "./report.js";
import { benchKafka } from "./kafka.js";
import { benchLog } from "./log.js";
import { benchNats } from "./nats.js";
import { benchPubSub } from "./pubsub.js";
import { benchRabbitmq } from "./rabbitmq.js";
import { benchTriggers } from "./triggers.js";

const options = {
  durationSeconds: Number(process.env.BENCH_DURATION ?? 10),
  connections: Number(process.env.BENCH_CONNECTIONS ?? 50),
  workers: Number(process.env.BENCH_WORKERS ?? 1),
};

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
/** A comma-separated list; empty when set to "". */
const list = (name: string, fallback: string) => (process.env[name] ?? fallback).split(",").filter(Boolean);
const openLoopOptions = {
  runs: env("BENCH_RUNS", 3),
  stepSeconds: env("BENCH_STEP_SECONDS", 5),
  latencySeconds: env("BENCH_LATENCY_SECONDS", 10),
  warmupSeconds: env("BENCH_WARMUP_SECONDS", 10),
  closedSeconds: env("BENCH_CLOSED_SECONDS", 5),
  ladder: (
    process.env.BENCH_LADDER ??
    "250,500,1000,1500,2000,3000,4000,5000,6000,8000,10000,12000,15000,20000,25000"
  )
    .split(",")
    .map(Number),
  targets: (process.env.BENCH_TARGETS ?? "bare,forwarder,memory,log").split(","),
  generatorConnections: 256,
  closedConnections: options.connections,
  maxP99Ms: 50,
  minDeliveredWithinStep: 0.99,
};

const cases: Record<string, () => Promise<unknown>> = {
  open: () => benchOpenLoop(openLoopOptions),
  profile: () =>
    benchProfile({
      rate: env("BENCH_PROFILE_RATE", 1000),
      seconds: env("BENCH_PROFILE_SECONDS", 10),
      channels: list("BENCH_PROFILE_CHANNELS", "memory,kafka,rabbitmq,pubsub"),
      ingress: list("BENCH_PROFILE_INGRESS", "kafka,rabbitmq"),
      connections: options.connections,
    }),
  core: () => benchCore(options),
  triggers: () => benchTriggers(options),
  kafka: () => benchKafka({ ...options, runs: env("BENCH_RUNS", 3) }),
  rabbitmq: () => benchRabbitmq({ ...options, runs: env("BENCH_RUNS", 3) }),
  pubsub: () => benchPubSub(options),
  nats: () => benchNats(options),
  log: () => benchLog(options),
};

const wanted = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(cases);
const unknown = wanted.filter((name) => !cases[name]);
if (unknown.length) {
  console.error(`unknown benchmark case(s): ${unknown.join(", ")}; known: ${Object.keys(cases).join(", ")}`);
  process.exit(2);
}
const results: Record<string, unknown> = {};
const loadBefore = loadAverage();
// A case run with several workers is kept apart (kafka-workers-2), beside the one-process figures.
const served = (name: string) =>
  options.workers > 1 && ["kafka", "rabbitmq", "pubsub"].includes(name)
    ? `${name}-workers-${options.workers}`
    : name;
for (const name of wanted) results[served(name)] = await cases[name]!();
const document = {
  command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
  at: new Date().toISOString(),
  machine: {
    cpus: availableParallelism(),
    model: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  },
  loadAverage: { before: loadBefore, after: loadAverage() },
  load: options,
  results,
};
console.log(JSON.stringify(document, null, 2));
// BENCH_WRITE=0: a trial run that leaves bench/results.json and BENCHMARKS.md as they are.
if (process.env.BENCH_WRITE !== "0") await writeResults(document, process.env.BENCH_SNAPSHOT);
