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
import { renderCeilingCase } from "./report-baselines.js";
import { METHOD } from "./report-method.js";
import { renderProfile } from "./report-profile.js";

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

export interface Results {
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

/** The backends with an open-loop target and a `<name>-baseline` target. */
const BACKENDS = ["kafka", "rabbitmq", "pubsub", "nats"];
const BACKEND_TITLES: Record<string, string> = {
  kafka: "Kafka",
  rabbitmq: "RabbitMQ",
  pubsub: "Pub/Sub (emulator)",
  nats: "NATS JetStream",
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
    ...BACKENDS.filter((name) => names.includes(name) && names.includes(`${name}-baseline`)).map((name) =>
      ratios(name, `${name}-baseline`),
    ),
    ...names
      .filter((name) => name.includes("@") && names.includes(name.split("@")[0]!))
      .map((name) => ratios(name.split("@")[0]!, name)),
  ].join("\n");
  const during = result.loadAverage.oneMinuteDuring;
  const backends = BACKENDS.filter((name) => names.includes(name) || names.includes(`${name}-baseline`));
  const covered = ["core", ...backends.map((name) => BACKEND_TITLES[name]!)];
  const title = covered.length > 1 ? `${covered.slice(0, -1).join(", ")} and ${covered.at(-1)}` : "core";
  return `## Open loop: ${title}

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
${
  backends.includes("pubsub")
    ? "\nThe Pub/Sub targets run on Google's emulator (a Java process on the same cores), not the service: compare them with each other only.\n"
    : ""
}
${latency}

End-to-end latency is from the event's intended send time to its arrival at the subscriber (for the
bare server, which delivers nothing, to the answer). CPU is the target process's user + system time
over the step (including the second after it for stragglers) divided by the events delivered; RSS is
read at the end of the step. The generator and the subscriber run in their own processes.
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

export async function render(results: Results): Promise<string> {
  const sections = [METHOD];
  const open = results.cases.open;
  if (open) sections.push(renderOpenLoop(open));
  if (existsSync(NOTES)) sections.push(await readFile(NOTES, "utf8"));
  if (results.cases.profile) sections.push(renderProfile(results.cases.profile));
  sections.push(renderSnapshots(results.snapshots));
  const others = Object.entries(results.cases).filter(([name]) => name !== "open" && name !== "profile");
  for (const [name, record] of others) {
    const ceiling = renderCeilingCase(name, record, results.cases.open);
    if (ceiling) {
      sections.push(ceiling);
      continue;
    }
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
