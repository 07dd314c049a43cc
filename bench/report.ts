/**
 * bench/results.json keeps the latest result of every case (and named snapshots); BENCHMARKS.md is
 * rendered from it, so the figures in the text are always the ones measured.
 * `npx tsx bench/report.ts` re-renders BENCHMARKS.md without measuring.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { format, resolveConfig } from "prettier";
import type { Spread } from "./open.js";

const RESULTS = fileURLToPath(new URL("./results.json", import.meta.url));
const CLOSED_LOOP_NOTES = fileURLToPath(new URL("./closed-loop.md", import.meta.url));
/** Hand-written notes with no measured figure in them (the figures come from results.json). */
const NOTES = fileURLToPath(new URL("./notes.md", import.meta.url));
const BENCHMARKS = fileURLToPath(new URL("../BENCHMARKS.md", import.meta.url));

interface RunDocument {
  command: string;
  at: string;
  machine: { cpus: number; model?: string | undefined; memoryGiB: number; node: string };
  loadAverage: { before: number[]; after: number[] };
  results: Record<string, unknown>;
}

interface CaseRecord {
  command: string;
  at: string;
  commit: string;
  machine: RunDocument["machine"];
  loadAverage: RunDocument["loadAverage"];
  result: unknown;
}

interface Results {
  cases: Record<string, CaseRecord>;
  snapshots: Record<string, CaseRecord>;
}

interface OpenLoopResult {
  method: Record<string, unknown> & { runs: number; ladder: number[] };
  loadAverage: { before: number[]; oneMinuteDuring: number[]; after: number[] };
  targets: Record<string, { label: string; summary: Record<string, unknown> }>;
}

function commit(): string {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"]).toString().trim();
  } catch {
    return "unknown";
  }
}

/** Merges a run into bench/results.json (and under `snapshot`, when named), then renders BENCHMARKS.md. */
export async function writeResults(document: RunDocument, snapshot?: string): Promise<void> {
  const results: Results = existsSync(RESULTS)
    ? (JSON.parse(await readFile(RESULTS, "utf8")) as Results)
    : { cases: {}, snapshots: {} };
  for (const [name, result] of Object.entries(document.results)) {
    const record = { ...document, commit: commit(), result, results: undefined };
    delete record.results;
    results.cases[name] = record;
    if (snapshot && name === "open") results.snapshots[snapshot] = record;
  }
  await writeFormatted(RESULTS, JSON.stringify(results), "json");
  await writeFormatted(BENCHMARKS, await render(results), "markdown");
}

/** Writes `text` as the repository's formatter would (`npm run lint` checks both files). */
async function writeFormatted(file: string, text: string, parser: string): Promise<void> {
  const options = (await resolveConfig(file)) ?? {};
  await writeFile(file, await format(text, { ...options, parser, filepath: file }));
}

const number = (value: number) =>
  value >= 1000 ? Math.round(value).toLocaleString("en-US").replace(/,/g, " ") : String(value);

/** "median (min–max)" */
function cell(value: unknown): string {
  const figure = value as Spread | undefined;
  if (!figure) return "–";
  if (figure.min === figure.max) return number(figure.median);
  return `${number(figure.median)} (${number(figure.min)}–${number(figure.max)})`;
}

function table(header: string[], rows: string[][]): string {
  const align = header.map((_, index) => (index === 0 ? "---" : "--:"));
  return [header, align, ...rows].map((row) => `| ${row.join(" | ")} |`).join("\n");
}

const POINT_NAMES: Record<string, string> = {
  cold1k: "1k/s, cold",
  at1k: "1k/s, warm",
  at50: "50% of max",
  at80: "80% of max",
};

function renderOpenLoop(record: CaseRecord): string {
  const result = record.result as OpenLoopResult;
  const { method } = result;
  const targets = Object.entries(result.targets);
  const summaryOf = (name: string, key: string) => result.targets[name]?.summary[key] as Spread | undefined;
  const throughput = table(
    [
      "target",
      "max sustainable events/s",
      "max kept up events/s",
      "closed loop: accepted req/s",
      "closed loop: delivered events/s",
    ],
    targets.map(([, target]) => [
      target.label,
      cell(target.summary.maxSustainablePerSecond),
      cell(target.summary.maxKeptUpPerSecond),
      cell(target.summary.closedLoopRequestsPerSecond),
      cell(target.summary.closedLoopDeliveredPerSecond),
    ]),
  );
  const latencyRows: string[][] = [];
  for (const [, target] of targets) {
    for (const point of Object.keys(POINT_NAMES)) {
      const figures = target.summary[point] as Record<string, Spread | undefined> | undefined;
      if (!figures?.p50Ms) continue;
      latencyRows.push([
        `${target.label}, ${POINT_NAMES[point]}`,
        cell(figures.offeredPerSecond),
        cell(figures.p50Ms),
        cell(figures.p99Ms),
        cell(figures.p999Ms),
        cell(figures.maxMs),
        cell(figures.cpuMicrosPerEvent),
        cell(figures.rssMiB),
      ]);
    }
  }
  const latency = table(
    ["target, rate", "offered/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "CPU µs/event", "RSS MiB"],
    latencyRows,
  );
  const ratio = (a: string, b: string, key: string) => {
    const top = summaryOf(a, key)?.median;
    const bottom = summaryOf(b, key)?.median;
    return top !== undefined && bottom ? (top / bottom).toFixed(2) : "–";
  };
  const ratios = (a: string, b: string) =>
    `- ${result.targets[a]?.label ?? a} / ${result.targets[b]?.label ?? b}: ` +
    `**${ratio(a, b, "maxSustainablePerSecond")}** sustainable, **${ratio(a, b, "maxKeptUpPerSecond")}** kept up, ` +
    `${ratio(a, b, "closedLoopDeliveredPerSecond")} closed-loop delivered`;
  const names = Object.keys(result.targets);
  const comparisons = [
    ...["memory", "log"]
      .filter((name) => names.includes(name) && names.includes("forwarder"))
      .map((name) => ratios(name, "forwarder")),
    ...(names.includes("forwarder") && names.includes("bare") ? [ratios("forwarder", "bare")] : []),
    ...(names.includes("kafka") && names.includes("kafka-baseline")
      ? [ratios("kafka", "kafka-baseline")]
      : []),
    ...names
      .filter((name) => name.includes("@") && names.includes(name.split("@")[0]!))
      .map((name) => ratios(name.split("@")[0]!, name)),
  ].join("\n");
  const during = result.loadAverage.oneMinuteDuring;
  return `## Open loop: core${names.includes("kafka") ? " and Kafka" : ""}

\`${record.command}\` at commit \`${record.commit}\`, ${record.at.slice(0, 16).replace("T", " ")} UTC.
Machine: ${record.machine.cpus} vCPU (${record.machine.model ?? "unknown CPU"}), ${record.machine.memoryGiB} GiB,
Node.js ${record.machine.node}. Settings: ${method.runs} interleaved runs, ladder steps of ${String(method.stepSeconds)} s,
latency points of ${String(method.latencySeconds)} s, ${String(method.warmupSeconds)} s warm-up at 1k/s,
closed loop ${String(method.closedSeconds)} s with ${String(method.closedConnections)} connections.

**The machine was shared** with other work during the run: load average (1, 5, 15 min)
${result.loadAverage.before.join(" / ")} before, ${result.loadAverage.after.join(" / ")} after, and the
1-minute load after each target's run ranged ${Math.min(...during)}–${Math.max(...during)} on
${record.machine.cpus} cores. Absolute figures are therefore noisy and low; the baselines ran
interleaved with Herald under the same load, so the ratios are the more meaningful reading. Re-measure
on a quiet machine with the same command.

Figures are the median of the runs, with the range (min–max) in brackets.

${throughput}

Ratios of the medians:

${comparisons}

${latency}

End-to-end latency is from the event's intended send time to its arrival at the subscriber (for the
bare server, which delivers nothing, to the answer). CPU is the target process's user + system time
over the step (including the second after it for stragglers) divided by the events delivered; RSS is
read at the end of the step. The generator and the subscriber run in their own processes.
`;
}

interface ProfileResult {
  rate: number;
  seconds: number;
  busyMicrosPerEvent: number;
  byModule: Array<{ name: string; share: number; microsPerEvent: number }>;
  byFunction: Array<{ name: string; share: number; microsPerEvent: number }>;
}

function renderProfile(record: CaseRecord): string {
  const result = record.result as ProfileResult;
  const rows = (entries: ProfileResult["byModule"]) =>
    entries.map((entry) => [`\`${entry.name}\``, `${entry.share}%`, String(entry.microsPerEvent)]);
  return `## Where Herald's CPU goes (InMemoryChannel, ${number(result.rate)} events/s)

\`${record.command}\` at \`${record.commit}\`, ${record.at.slice(0, 16).replace("T", " ")} UTC, load average
${record.loadAverage.before.join(" / ")}. \`node --cpu-prof\` of \`herald serve\` over ${result.seconds} s of open-loop
load after as long a warm-up: **${result.busyMicrosPerEvent} µs of CPU per delivered event** (ingress and
delivery together, idle excluded), by self time.

${table(["module", "share", "µs/event"], rows(result.byModule))}

${table(["function", "share", "µs/event"], rows(result.byFunction))}
`;
}

function renderSnapshots(snapshots: Record<string, CaseRecord>): string {
  const names = Object.keys(snapshots);
  if (names.length === 0) return "";
  const rows: string[][] = [];
  for (const name of names) {
    const record = snapshots[name]!;
    const result = record.result as OpenLoopResult;
    for (const [target, figures] of Object.entries(result.targets)) {
      if (target === "bare") continue;
      const point = (key: string, figure: string) =>
        cell((figures.summary[key] as Record<string, Spread> | undefined)?.[figure]);
      rows.push([
        `${name} (\`${record.commit}\`)`,
        target,
        cell(figures.summary.maxSustainablePerSecond),
        cell(figures.summary.maxKeptUpPerSecond),
        point("at1k", "p99Ms"),
        point("at80", "p99Ms"),
        point("at1k", "cpuMicrosPerEvent"),
        point("at80", "cpuMicrosPerEvent"),
        cell(figures.summary.closedLoopDeliveredPerSecond),
        result.loadAverage.oneMinuteDuring.length
          ? `${Math.min(...result.loadAverage.oneMinuteDuring)}–${Math.max(...result.loadAverage.oneMinuteDuring)}`
          : "–",
      ]);
    }
  }
  return `## Snapshots (before / after a change)

Named runs of the open-loop case kept in bench/results.json (\`BENCH_SNAPSHOT=<name> npm run bench -- open\`).

${table(
  [
    "snapshot",
    "target",
    "max sustainable/s",
    "max kept up/s",
    "p99 ms at 1k/s",
    "p99 ms at 80%",
    "CPU µs/event at 1k/s",
    "CPU µs/event at 80%",
    "closed-loop delivered/s",
    "load avg during",
  ],
  rows,
)}
`;
}

const METHOD = `# Benchmarks

<!-- Rendered by \`npm run bench\` (bench/report.ts) from bench/results.json: edit those, not this file. -->

\`\`\`sh
npm run bench                      # every case; JSON on stdout, bench/results.json and this file updated
npm run bench -- open              # one case: open, core, triggers, kafka, rabbitmq, pubsub, nats, log
BENCH_WRITE=0 BENCH_RUNS=1 BENCH_STEP_SECONDS=1 BENCH_LATENCY_SECONDS=2 BENCH_WARMUP_SECONDS=2 \\
  BENCH_CLOSED_SECONDS=0 BENCH_TARGETS=forwarder,memory npm run bench -- open   # a quick trial, about a minute
npx tsx bench/report.ts            # re-render this file from bench/results.json
\`\`\`

## Method (the open-loop case, \`open\`)

- **Load generator, open model.** A worker thread with an undici Pool (256 connections) sends by the
  clock at a constant arrival rate, whatever the server answers; every event carries its *intended*
  send time in the \`benchintended\` extension (\`ce-benchintended\`). Latency is counted from that
  time, so a stall of the server (or of the generator) is counted in full, with no coordinated
  omission. The generator reports the rate it actually issued at and how late it fell behind; a step
  where it issued less than 97% of the offered rate does not count as sustained. The bare
  \`node:http\` server is its check: the generator reaches the offered rate against it.
- **Subscriber.** A separate \`node:http\` process answering \`202\` records, per event, intended send
  time to arrival into an HDR histogram (\`hdr-histogram-js\`, microseconds, 3 significant digits).
- **Maximum sustainable throughput.** A ladder of offered rates (steps of \`BENCH_STEP_SECONDS\`),
  stopped at the first rate that is not sustained; the figure is the highest sustained rate. A rate is
  sustained when ≥99% of the step's events were delivered by the end of the step (so the backlog is
  bounded), p99 end-to-end latency is under 50 ms, and no request failed or was refused. The ladder
  goes on while the target *keeps up* (the same without the latency limit), and that rate is
  reported too: on a loaded machine, scheduling delays alone can push p99 past 50 ms. The 50% and
  80% points are taken of the sustainable rate, or of the kept-up rate when none was sustained.
- **Latency at fixed rates below saturation**: p50, p99, p99.9 and max at 1k events/s and at 50% and
  80% of that run's maximum, each over \`BENCH_LATENCY_SECONDS\`, with the target's CPU µs per
  delivered event (utime + stime from \`/proc/<pid>/stat\`) and RSS.
- **Cold and warm.** Each run starts the target afresh and measures 1k/s cold (the first load the
  process sees); then \`BENCH_WARMUP_SECONDS\` of the same load before the ladder and the warm points.
- **Closed loop, secondary.** autocannon (50 connections) at saturation, as the older cases: the rate
  of accepted requests and of deliveries (accepted until the last one arrived).
- **Runs** are interleaved (run 1 of every target, then run 2...) and each figure is the median of
  the runs with its range.
- **Fair baselines.** The bare server (ingress only) and a minimal Node forwarder doing Herald's
  delivery work with Herald's strategy and defaults: node:http, a bounded FIFO of 10 000 (503 when
  full), \`202\` after the enqueue, 100 deliveries in flight over an undici Pool of 64 connections.
  Herald runs with its defaults (bounded in-memory capacity, \`herald serve\` through tsx).
- **Kafka** (targets \`kafka\`, \`kafka-baseline\`): Herald's KafkaChannel (1 partition; its idempotent
  acks=all producer with group commit; unordered delivery, 100 in flight per fetched batch) on the
  Kafka at 127.0.0.1:9092, against a kafkajs forwarder in one process with the same strategy
  (\`bench/open-loop/kafka-forwarder.ts\`). Each start uses a new topic and consumer group.
- **Two versions in one run.** A target \`memory@<dir>\` or \`log@<dir>\` runs Herald from another
  checkout (for instance \`git worktree add /tmp/base <commit>\`), interleaved with this one under the
  same machine load: \`BENCH_TARGETS=forwarder,memory,memory@/tmp/base npm run bench -- open\`.
`;

async function render(results: Results): Promise<string> {
  const sections = [METHOD];
  const open = results.cases.open;
  if (open) sections.push(renderOpenLoop(open));
  if (existsSync(NOTES)) sections.push(await readFile(NOTES, "utf8"));
  if (results.cases.profile) sections.push(renderProfile(results.cases.profile));
  sections.push(renderSnapshots(results.snapshots));
  const others = Object.entries(results.cases).filter(([name]) => name !== "open" && name !== "profile");
  for (const [name, record] of others) {
    sections.push(`## \`${name}\` (closed loop), latest JSON

\`${record.command}\` at \`${record.commit}\`, ${record.at}, load average ${record.loadAverage.before.join(" / ")}.

\`\`\`json
${JSON.stringify(record.result, null, 2)}
\`\`\`
`);
  }
  if (existsSync(CLOSED_LOOP_NOTES)) sections.push(await readFile(CLOSED_LOOP_NOTES, "utf8"));
  return `${sections.filter(Boolean).join("\n")}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const results = JSON.parse(await readFile(RESULTS, "utf8")) as Results;
  await writeFormatted(BENCHMARKS, await render(results), "markdown");
}
