/**
 * `npm run bench [-- case ...]`: runs the benchmark cases (all by default) and prints one JSON
 * document. Each case compares Herald against a baseline measured in the same run.
 * BENCH_DURATION (seconds per load phase) and BENCH_CONNECTIONS tune the load.
 */
import { availableParallelism, cpus } from "node:os";
import { benchCore } from "./core.js";
import { benchKafka } from "./kafka.js";
import { benchLog } from "./log.js";
import { benchNats } from "./nats.js";
import { benchPubSub } from "./pubsub.js";
import { benchRabbitmq } from "./rabbitmq.js";
import { benchTriggers } from "./triggers.js";

const options = {
  durationSeconds: Number(process.env.BENCH_DURATION ?? 10),
  connections: Number(process.env.BENCH_CONNECTIONS ?? 50),
};

const cases: Record<string, () => Promise<unknown>> = {
  core: () => benchCore(options),
  triggers: () => benchTriggers(options),
  kafka: () => benchKafka(options),
  rabbitmq: () => benchRabbitmq(options),
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
for (const name of wanted) results[name] = await cases[name]!();
console.log(
  JSON.stringify(
    {
      machine: { cpus: availableParallelism(), model: cpus()[0]?.model, node: process.version },
      load: options,
      results,
    },
    null,
    2,
  ),
);
