/**
 * Summary of a `node --cpu-prof` profile over one measured phase: self time by module (undici,
 * src/ingress, node:internal/streams...) and by function, per event, with the share of the garbage
 * collector and of idle time, and the largest module Herald owns and the largest library module.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
}

export interface CpuProfile {
  endTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  /** Percent of the busy (non-idle) time. */
  share: number;
  microsPerEvent: number;
}

export interface ProfileSummary {
  busyMicrosPerEvent: number;
  /** Percent of the busy time spent in V8's garbage collector. */
  gcShare: number;
  /** Percent of the phase the process was idle (waiting on I/O or timers). */
  idleShare: number;
  byModule: ProfileEntry[];
  byFunction: ProfileEntry[];
  /** The largest module of Herald's own code (src/, adapters/, sources/) and of a package. */
  largest: { herald?: ProfileEntry | undefined; library?: ProfileEntry | undefined };
}

/** The only profile `directory` holds (one Herald process wrote it on exit). */
export async function readProfile(directory: string): Promise<CpuProfile> {
  const file = (await readdir(directory)).find((name) => name.endsWith(".cpuprofile"));
  if (!file) throw new Error(`no CPU profile was written in ${directory}`);
  return JSON.parse(await readFile(join(directory, file), "utf8")) as CpuProfile;
}

/** The module a frame belongs to: a package, a folder of Herald, a node: module, or V8's own. */
export function moduleOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith("(") ? functionName : "(native)";
  // undici's HTTP parser (llhttp) runs as WebAssembly; its module name changes from run to run.
  if (url.startsWith("wasm://")) return "(wasm)";
  const path = url.replace(/^file:\/\//, "");
  // The innermost package: a dependency nested in another's node_modules is its own.
  const inPackage = /.*node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (inPackage) return inPackage[1]!;
  if (path.startsWith("node:")) return `node:${path.slice(5).split("/").slice(0, 2).join("/")}`;
  const inHerald = /\/(src|adapters|sources)\/([^/]+)/.exec(path);
  if (inHerald) return `${inHerald[1]}/${inHerald[2]!.replace(/\.ts$/, "")}`;
  return path;
}

/**
 * Where a function is: its file inside Herald or its package, or its module, with the (1-based)
 * line. tsx compiles each Herald file to one line, so there the column tells functions apart.
 */
function locationOf(url: string, module: string, lineNumber: number, columnNumber: number): string {
  if (!url || url.startsWith("wasm://")) return module;
  const path = url.replace(/^file:\/\//, "");
  const file =
    /.*node_modules\/((?:@[^/]+\/)?[^/]+\/.+)$/.exec(path)?.[1] ??
    /\/((?:src|adapters|sources)\/.+)$/.exec(path)?.[1] ??
    path;
  return lineNumber === 0 && ownerOf(module) === "herald"
    ? `${file}:1:${columnNumber + 1}`
    : `${file}:${lineNumber + 1}`;
}

/** Who owns a module named by moduleOf: Herald, a package, Node.js, V8 (native code, GC), or a file elsewhere. */
export function ownerOf(module: string): "herald" | "library" | "node" | "v8" | "other" {
  if (/^(src|adapters|sources)\//.test(module)) return "herald";
  if (module.startsWith("node:")) return "node";
  if (module.startsWith("(")) return "v8";
  if (module.includes("/") && !/^@[^/]+\/[^/]+$/.test(module)) return "other";
  return "library";
}

/**
 * Self time of the samples in [from, to] (the profile's clock, microseconds), per event: `events`
 * is what the phase delivered (or accepted).
 */
export function summariseProfile(
  profile: CpuProfile,
  events: number,
  from: number,
  to: number,
): ProfileSummary {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfByNode = new Map<number, number>();
  const sampledAt: number[] = [];
  profile.timeDeltas.reduce((at, delta, index) => (sampledAt[index] = at + delta), 0);
  const start = profile.endTime - (sampledAt[sampledAt.length - 1] ?? 0);
  profile.samples.forEach((id, index) => {
    const at = start + sampledAt[index]!;
    if (at < from || at > to) return;
    selfByNode.set(id, (selfByNode.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0));
  });
  const byModule = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  for (const [id, micros] of selfByNode) {
    const { functionName, url, lineNumber, columnNumber } = nodes.get(id)!.callFrame;
    if (functionName === "(idle)") {
      idle += micros;
      continue;
    }
    busy += micros;
    const module = moduleOf(url, functionName);
    byModule.set(module, (byModule.get(module) ?? 0) + micros);
    const name = `${functionName || "(anonymous)"} ${locationOf(url, module, lineNumber, columnNumber)}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + micros);
  }
  const percent = (part: number, whole: number) => (whole ? Math.round((part / whole) * 1000) / 10 : 0);
  const entry = ([name, micros]: [string, number]): ProfileEntry => ({
    name,
    share: percent(micros, busy),
    microsPerEvent: events ? Math.round((micros / events) * 10) / 10 : 0,
  });
  const ranked = (entries: Map<string, number>) => [...entries].sort((a, b) => b[1] - a[1]);
  const modules = ranked(byModule);
  const largestOf = (owner: ReturnType<typeof ownerOf>) => {
    const found = modules.find(([name]) => ownerOf(name) === owner);
    return found && entry(found);
  };
  return {
    busyMicrosPerEvent: events ? Math.round(busy / events) : 0,
    gcShare: percent(byModule.get("(garbage collector)") ?? 0, busy),
    idleShare: percent(idle, idle + busy),
    byModule: modules.slice(0, 15).map(entry),
    byFunction: ranked(byFunction).slice(0, 20).map(entry),
    largest: { herald: largestOf("herald"), library: largestOf("library") },
  };
}
