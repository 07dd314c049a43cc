/**
 * `npm run bench -- profile`: where Herald's CPU time goes on the delivery path. Herald (InMemoryChannel
 * + Subscription, defaults) runs under `node --cpu-prof` with the open-loop generator at
 * BENCH_PROFILE_RATE events/s (1000) for BENCH_PROFILE_SECONDS (10) after as long a warm-up; the
 * profile's self time is summed by module (undici, src/ingress, node:internal...) and by function.
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { heraldTarget } from "./open.js";
import { LoadGenerator } from "./open-loop/generator.js";
import { HDR_SUBSCRIBER } from "./open-loop/processes.js";
import { EVENT_BODY, EVENT_HEADERS, startScript } from "./support.js";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  endTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The module a frame belongs to: a package, a folder of Herald, a node: module, or V8's own. */
function moduleOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith("(") ? functionName : "(native)";
  const path = url.replace(/^file:\/\//, "");
  const inPackage = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (inPackage) return inPackage[1]!;
  if (path.startsWith("node:")) return `node:${path.slice(5).split("/").slice(0, 2).join("/")}`;
  const inHerald = /\/(src|adapters|sources)\/([^/]+)/.exec(path);
  if (inHerald) return `${inHerald[1]}/${inHerald[2]!.replace(/\.ts$/, "")}`;
  return path;
}

/** Self time by function and module of the samples in [from, to] (the profile's microseconds). */
function summariseProfile(profile: CpuProfile, events: number, from: number, to: number) {
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
  for (const [id, micros] of selfByNode) {
    const { functionName, url, lineNumber } = nodes.get(id)!.callFrame;
    if (functionName === "(idle)") continue;
    busy += micros;
    const module = moduleOf(url, functionName);
    byModule.set(module, (byModule.get(module) ?? 0) + micros);
    const name = `${functionName || "(anonymous)"} ${module}:${lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + micros);
  }
  const top = (entries: Map<string, number>, count: number) =>
    [...entries]
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([name, micros]) => ({
        name,
        share: Math.round((micros / busy) * 1000) / 10,
        microsPerEvent: Math.round((micros / events) * 10) / 10,
      }));
  return {
    busyMicrosPerEvent: Math.round(busy / events),
    byModule: top(byModule, 15),
    byFunction: top(byFunction, 20),
  };
}

export async function benchProfile(options: { rate: number; seconds: number }) {
  const directory = await mkdtemp(join(tmpdir(), "herald-profile-"));
  const subscriberProcess = await startScript(HDR_SUBSCRIBER);
  const subscriber = `http://127.0.0.1:${subscriberProcess.port}/`;
  try {
    const target = await heraldTarget(
      "messaging.knative.dev/v1",
      "InMemoryChannel",
      subscriber,
      process.cwd(),
      ["--cpu-prof", `--cpu-prof-dir=${directory}`],
    );
    const generator = await LoadGenerator.start(target.url, {
      headers: EVENT_HEADERS,
      body: EVENT_BODY,
      connections: 256,
    });
    let load;
    let stoppingMicros = 0;
    try {
      await generator.run(options.rate, options.seconds);
      load = await generator.run(options.rate, options.seconds);
    } finally {
      await generator.close();
      const stopping = performance.now();
      await target.stop();
      stoppingMicros = (performance.now() - stopping) * 1000;
    }
    const file = (await readdir(directory)).find((name) => name.endsWith(".cpuprofile"));
    if (!file) throw new Error("Herald wrote no CPU profile");
    const profile = JSON.parse(await readFile(join(directory, file), "utf8")) as CpuProfile;
    // Only the measured phase: the profile ends with the shutdown, and the start and the warm-up
    // come before the phase.
    const to = profile.endTime - stoppingMicros;
    const from = to - options.seconds * 1e6;
    return {
      rate: options.rate,
      seconds: options.seconds,
      load,
      ...summariseProfile(profile, load.accepted, from, to),
    };
  } finally {
    await subscriberProcess.stop();
    await rm(directory, { recursive: true, force: true });
  }
}
