/**
 * `npm run bench -- profile`: where Herald's CPU time goes, one `herald serve` under `node --cpu-prof`
 * per path, each summarised by bench/profile-summary.ts (self time by module and by function per
 * event, the garbage collector's share and the idle share):
 *
 * - delivery, for each channel of BENCH_PROFILE_CHANNELS (memory,kafka,rabbitmq,pubsub: the open-loop
 *   targets' channels and backends, bench/open-loop/targets.ts): one channel and one Subscription,
 *   the open-loop generator at BENCH_PROFILE_RATE events/s (1000) for BENCH_PROFILE_SECONDS (10)
 *   after as long a warm-up, per delivered event;
 * - ingress at saturation, for each channel of BENCH_PROFILE_INGRESS (kafka,rabbitmq): autocannon
 *   with 50 connections, as the kafka and rabbitmq cases measure Herald's ingress (no Subscription;
 *   a RabbitmqChannel's exchange has a quorum queue bound with no consumer), for as long after as
 *   long a warm-up, per accepted event.
 *
 * A path that fails is reported with its error and the others still run.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { heraldTarget, startHerald } from "./open-loop/herald-target.js";
import { LoadGenerator } from "./open-loop/generator.js";
import { HDR_SUBSCRIBER } from "./open-loop/processes.js";
import { HERALD_CHANNELS, type HeraldChannel } from "./open-loop/targets.js";
import { readProfile, summariseProfile, type ProfileSummary } from "./profile-summary.js";
import { bindQuorumQueue } from "./rabbitmq.js";
import { EVENT_BODY, EVENT_HEADERS, load, startScript } from "./support.js";

export interface ProfileOptions {
  rate: number;
  seconds: number;
  /** Channels whose delivery path is profiled (keys of HERALD_CHANNELS). */
  channels: string[];
  /** Channels whose ingress is profiled at saturation (keys of INGRESS). */
  ingress: string[];
  /** autocannon's connections for the ingress paths. */
  connections: number;
}

/**
 * The ingress paths, with what each case binds to the channel before its load (bench/kafka.ts and
 * bench/rabbitmq.ts): what it returns undoes it.
 */
const INGRESS: Record<string, (channel: string) => Promise<() => Promise<void>>> = {
  kafka: () => Promise.resolve(() => Promise.resolve()),
  rabbitmq: (channel) => bindQuorumQueue(`herald.default.${channel}`),
};

interface Measured<Load> {
  /** performance.now() at the start and the end of the measured phase. */
  startedAt: number;
  endedAt: number;
  /** Events the phase delivered (delivery paths) or accepted (ingress paths). */
  events: number;
  load: Load;
}

/**
 * Starts Herald under --cpu-prof, measures, stops it and summarises the measured phase. The profile
 * ends when the process exits, so the phase is placed back from the profile's end by the time from
 * the phase to the exit; writing the profile on exit moves it slightly earlier, into the warm-up,
 * which runs the same load.
 */
async function profiled<Herald extends { stop(): Promise<void> }, Load>(
  start: (nodeArgs: string[]) => Promise<Herald>,
  measure: (herald: Herald) => Promise<Measured<Load>>,
): Promise<{ events: number; load: Load } & ProfileSummary> {
  const directory = await mkdtemp(join(tmpdir(), "herald-profile-"));
  try {
    const herald = await start(["--cpu-prof", `--cpu-prof-dir=${directory}`]);
    let measured: Measured<Load>;
    let stoppedAt: number;
    try {
      measured = await measure(herald);
    } finally {
      await herald.stop();
      stoppedAt = performance.now();
    }
    const profile = await readProfile(directory);
    const from = profile.endTime - (stoppedAt - measured.startedAt) * 1000;
    const to = profile.endTime - (stoppedAt - measured.endedAt) * 1000;
    const { events, load } = measured;
    return { events, load, ...summariseProfile(profile, events, from, to) };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

async function deliveredCount(subscriber: string): Promise<number> {
  return ((await (await fetch(`${subscriber}stats`)).json()) as { count: number }).count;
}

function profileDelivery(channel: HeraldChannel, subscriber: string, options: ProfileOptions) {
  return profiled(
    (nodeArgs) =>
      heraldTarget(channel.apiVersion, channel.kind, subscriber, process.cwd(), nodeArgs, channel.env),
    async (target) => {
      const generator = await LoadGenerator.start(target.url, {
        headers: EVENT_HEADERS,
        body: EVENT_BODY,
        connections: 256,
      });
      try {
        await generator.run(options.rate, options.seconds);
        const before = await deliveredCount(subscriber);
        const startedAt = performance.now();
        const load = await generator.run(options.rate, options.seconds);
        const endedAt = performance.now();
        const delivered = (await deliveredCount(subscriber)) - before;
        if (delivered === 0) throw new Error(`the ${channel.kind} delivered nothing in the measured phase`);
        return { startedAt, endedAt, events: delivered, load: { ...load, delivered } };
      } finally {
        await generator.close();
      }
    },
  );
}

/** Posts single events until the channel accepts one (it exists and its backend is connected). */
async function untilAccepting(url: string, kind: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const response = await fetch(url, { method: "POST", headers: EVENT_HEADERS, body: EVENT_BODY });
    await response.body?.cancel();
    if (response.status === 202) return;
    if (Date.now() > deadline)
      throw new Error(`the ${kind} accepts no event (last answer ${response.status})`);
    await sleep(200);
  }
}

function profileIngress(name: string, channel: HeraldChannel, options: ProfileOptions) {
  // A new name each time: the backend's topic or exchange outlives Herald and is named after it.
  const channelName = `bench-ingress-${Date.now().toString(36)}`;
  return profiled(
    (nodeArgs) => startHerald(process.cwd(), nodeArgs, channel.env),
    async (herald) => {
      await herald.apply(`
apiVersion: ${channel.apiVersion}
kind: ${channel.kind}
metadata: { name: ${channelName} }
`);
      const url = `${herald.url}/channels/default/${channelName}`;
      await untilAccepting(url, channel.kind);
      const unbind = await INGRESS[name]!(channelName);
      try {
        const loadOptions = {
          durationSeconds: options.seconds,
          connections: options.connections,
          headers: EVENT_HEADERS,
          body: EVENT_BODY,
        };
        await load(url, loadOptions);
        const startedAt = performance.now();
        const result = await load(url, loadOptions);
        const endedAt = performance.now();
        return { startedAt, endedAt, events: result.requests - result.non2xx, load: result };
      } finally {
        await unbind();
      }
    },
  );
}

/** The channel of a name in BENCH_PROFILE_CHANNELS or BENCH_PROFILE_INGRESS, or an error naming the known ones. */
function channelOf(name: string, variable: string, known: string[]): HeraldChannel {
  if (!known.includes(name))
    throw new Error(`${variable}: unknown channel ${name}; known: ${known.join(", ")}`);
  return HERALD_CHANNELS[name as keyof typeof HERALD_CHANNELS];
}

export async function benchProfile(options: ProfileOptions) {
  const delivery = options.channels.map((name) => ({
    name,
    channel: channelOf(name, "BENCH_PROFILE_CHANNELS", Object.keys(HERALD_CHANNELS)),
  }));
  const ingress = options.ingress.map((name) => ({
    name,
    channel: channelOf(name, "BENCH_PROFILE_INGRESS", Object.keys(INGRESS)),
  }));
  const log = (line: string) => console.error(`[profile] ${line}`);
  const attempt = async (
    path: "delivery" | "ingress",
    name: string,
    kind: string,
    run: () => Promise<object>,
  ) => {
    log(`${path}: ${kind}`);
    try {
      return { path, channel: name, kind, ...(await run()) };
    } catch (error) {
      log(`${path}: ${kind} failed: ${String(error)}`);
      return { path, channel: name, kind, error: error instanceof Error ? error.message : String(error) };
    }
  };
  const paths = [];
  if (delivery.length) {
    const subscriberProcess = await startScript(HDR_SUBSCRIBER);
    const subscriber = `http://127.0.0.1:${subscriberProcess.port}/`;
    try {
      for (const { name, channel } of delivery)
        paths.push(
          await attempt("delivery", name, channel.kind, () => profileDelivery(channel, subscriber, options)),
        );
    } finally {
      await subscriberProcess.stop();
    }
  }
  for (const { name, channel } of ingress)
    paths.push(await attempt("ingress", name, channel.kind, () => profileIngress(name, channel, options)));
  return {
    method: {
      rate: options.rate,
      seconds: options.seconds,
      warmupSeconds: options.seconds,
      generatorConnections: 256,
      ingressConnections: options.connections,
    },
    paths,
  };
}
