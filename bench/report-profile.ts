/**
 * BENCHMARKS.md's "Where the time goes" section, from the `profile` case (bench/profile.ts): per
 * profiled path, the CPU per event, the garbage collector's and idle shares, the top modules and
 * functions by self time, and which Herald module and which library weigh most. Reads the results
 * of every version of the case: one InMemoryChannel delivery path (`{ rate, seconds, load, ... }`)
 * or several paths (`{ method, paths }`).
 */
import { ownerOf, type ProfileEntry } from "./profile-summary.js";

interface ProfileRecord {
  command: string;
  at: string;
  commit: string;
  loadAverage: { before: number[]; after: number[] };
  result: unknown;
}

interface ProfiledPath {
  path: "delivery" | "ingress";
  kind: string;
  error?: string;
  events?: number;
  load?: { accepted?: number; delivered?: number; requests?: number; non2xx?: number };
  busyMicrosPerEvent?: number;
  gcShare?: number;
  idleShare?: number;
  byModule?: ProfileEntry[];
  byFunction?: ProfileEntry[];
  largest?: { herald?: ProfileEntry; library?: ProfileEntry };
}

interface ProfileResult {
  method: { rate: number; seconds: number; ingressConnections?: number };
  paths: ProfiledPath[];
}

/** The first version of the case: the InMemoryChannel delivery path only, without GC and idle shares. */
interface SinglePathResult extends ProfiledPath {
  rate: number;
  seconds: number;
  load: { accepted: number };
}

const TOP = 8;

const number = (value: number) =>
  value >= 1000 ? Math.round(value).toLocaleString("en-US").replace(/,/g, " ") : String(value);

function table(header: string[], rows: string[][]): string {
  const align = header.map((_, index) => (index === 0 ? "--:" : index === 1 || index === 4 ? "---" : "--:"));
  return [header, align, ...rows].map((row) => `| ${row.join(" | ")} |`).join("\n");
}

function normalise(result: unknown): ProfileResult {
  const value = result as Partial<ProfileResult> & Partial<SinglePathResult>;
  if (Array.isArray(value.paths)) return value as ProfileResult;
  const single = value as SinglePathResult;
  const gc = single.byModule?.find((entry) => entry.name === "(garbage collector)");
  return {
    method: { rate: single.rate, seconds: single.seconds },
    paths: [
      {
        ...single,
        path: "delivery",
        kind: "InMemoryChannel",
        events: single.load.accepted,
        gcShare: gc?.share,
      },
    ],
  };
}

const percent = (share: number | undefined) => (share === undefined ? "–" : `${share}%`);

/** "`kafkajs` (24.7%, 51.3 µs/event)" */
const described = (entry: ProfileEntry) =>
  `\`${entry.name}\` (${entry.share}% of the busy time, ${entry.microsPerEvent} µs/event)`;

/** The largest module Herald owns and the largest package, from the summary or from the top modules. */
function largest(path: ProfiledPath): {
  herald?: ProfileEntry | undefined;
  library?: ProfileEntry | undefined;
} {
  if (path.largest) return path.largest;
  const modules = path.byModule ?? [];
  return {
    herald: modules.find((entry) => ownerOf(entry.name) === "herald"),
    library: modules.find((entry) => ownerOf(entry.name) === "library"),
  };
}

function sentence(path: ProfiledPath): string {
  const { herald, library } = largest(path);
  const own = herald
    ? `The largest module of Herald's own code is ${described(herald)}`
    : "No module of Herald's own code is among the sampled ones";
  const package_ = library
    ? `the largest library module is ${described(library)}.`
    : "no library module is among the sampled ones.";
  return `${own}; ${package_}`;
}

/** V8's own entries without their empty location: `(garbage collector)`, `writev (native)`. */
const functionName = (name: string) => name.replace(/ (\([^)]+\)):0$/, " $1").replace(/^(\(.+\)) \1$/, "$1");

function title(path: ProfiledPath, method: ProfileResult["method"]): string {
  if (path.path === "delivery") return `Delivery, ${path.kind}, ${number(method.rate)} events/s`;
  return `Ingress, ${path.kind}, at saturation (${method.ingressConnections ?? 50} connections)`;
}

function renderPath(path: ProfiledPath, method: ProfileResult["method"]): string {
  const heading = `### ${title(path, method)}`;
  if (path.error) return `${heading}\n\nNot profiled in this run: ${path.error}\n`;
  const counted =
    path.path === "delivery"
      ? `${number(path.events ?? 0)} delivered` +
        (path.load?.accepted === undefined ? "" : `, ${number(path.load.accepted)} accepted`)
      : `${number(path.events ?? 0)} accepted`;
  const idle = path.idleShare === undefined ? "idle not recorded" : `idle ${path.idleShare}% of the phase`;
  const perEvent = path.path === "delivery" ? "delivered" : "accepted";
  const modules = path.byModule?.slice(0, TOP) ?? [];
  const functions = path.byFunction?.slice(0, TOP) ?? [];
  const rows = Array.from({ length: Math.max(modules.length, functions.length) }, (_, index) => {
    const module = modules[index];
    const fn = functions[index];
    return [
      String(index + 1),
      module ? `\`${module.name}\`` : "",
      module ? `${module.share}%` : "",
      module ? String(module.microsPerEvent) : "",
      fn ? `\`${functionName(fn.name)}\`` : "",
      fn ? `${fn.share}%` : "",
      fn ? String(fn.microsPerEvent) : "",
    ];
  });
  return `${heading}

**${number(path.busyMicrosPerEvent ?? 0)} µs of CPU per ${perEvent} event** (${counted} in the measured
phase); the garbage collector ${percent(path.gcShare)} of the busy time; ${idle}.

${table(["#", "module", "share", "µs/event", "function", "share", "µs/event"], rows)}

${sentence(path)}
`;
}

function overview(result: ProfileResult): string {
  const rows = result.paths.map((path) => {
    const { herald, library } = largest(path);
    return [
      title(path, result.method),
      path.error ? "failed" : number(path.busyMicrosPerEvent ?? 0),
      percent(path.gcShare),
      percent(path.idleShare),
      herald ? `\`${herald.name}\` ${herald.microsPerEvent}` : "–",
      library ? `\`${library.name}\` ${library.microsPerEvent}` : "–",
    ];
  });
  const header = [
    "path",
    "CPU µs/event",
    "GC",
    "idle",
    "largest Herald module, µs/event",
    "largest library, µs/event",
  ];
  const align = header.map((_, index) => (index === 0 || index > 3 ? "---" : "--:"));
  return [header, align, ...rows].map((row) => `| ${row.join(" | ")} |`).join("\n");
}

export function renderProfile(record: ProfileRecord): string {
  const result = normalise(record.result);
  const { rate, seconds } = result.method;
  return `## Where the time goes

\`${record.command}\` at \`${record.commit}\`, ${record.at.slice(0, 16).replace("T", " ")} UTC, load average
${record.loadAverage.before.join(" / ")} before, ${record.loadAverage.after.join(" / ")} after.
\`node --cpu-prof\` of one \`herald serve\` per path, over ${seconds} s after as long a warm-up. Delivery paths: one channel and one Subscription under open-loop load at ${number(rate)}
events/s, CPU per delivered event (ingress and delivery together). Ingress paths: autocannon at
saturation into a channel with no Subscription (a RabbitmqChannel's exchange has a quorum queue bound,
with no consumer), as the kafka and rabbitmq cases measure ingress, CPU per accepted event. Self time;
shares are of the busy (non-idle) time; \`(native)\` is V8 builtins and Node's C++ (socket writes among
them), \`(program)\` V8 outside JavaScript. tsx compiles each of Herald's files to one line: a Herald
function's place is the column in that line.

${overview(result)}

${result.paths.map((path) => renderPath(path, result.method)).join("\n")}`;
}
