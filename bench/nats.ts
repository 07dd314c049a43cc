/**
 * NATS case, against the raw @nats-io JetStream client doing the same work with the same strategy on
 * the same server (NATS_URL, else nats://127.0.0.1:4222), in the same run:
 *
 * - `adapter`: publish and delivery through the NatsJetStreamChannel adapter in this process
 *   (`connections` publish loops, one event per publish awaiting its JetStream ack; one unordered
 *   subscription pulling at most `maxInFlight` messages, acknowledging after the handler) vs the raw
 *   client (the same stream configuration, the same binary-mode `ce-` headers and message id, the
 *   same pull strategy). Median of BENCH_RUNS runs (default 3) with the spread, both sides
 *   alternating; CPU per event is this process's user+system time over the events delivered.
 * - `herald`: Herald ingress into a NatsJetStreamChannel vs the raw client publishing, then Herald
 *   end to end to one subscriber, as bench/backend.ts does, except that every ingress event has an id
 *   of its own: JetStream drops a re-sent event id (same source and id) within its duplicate window,
 *   so a constant id would measure deduplication, not storage.
 */
import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import { connect, headers as natsHeaders } from "@nats-io/transport-node";
import { pino } from "pino";
import type { ChannelAdapter, ChannelTarget } from "../adapters/adapter.js";
import { natsConfigSchema } from "../adapters/nats/config.js";
import { natsChannelPlugin } from "../adapters/nats/index.js";
import { natsJetStreamChannelSpecSchema, type NatsJetStreamChannelSpec } from "../adapters/nats/spec.js";
import type { CloudEvent } from "../src/events/event.js";
import { loadRaw } from "./backend.js";
import {
  COUNTING_SUBSCRIBER,
  EVENT_BODY,
  EVENT_HEADERS,
  HeraldProcess,
  load,
  ratio,
  startScript,
} from "./support.js";

const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const MAX_IN_FLIGHT = 100;
const BODY = Buffer.from(EVENT_BODY);

interface Options {
  durationSeconds: number;
  connections: number;
}

/** One side of the adapter comparison, on a stream of its own. */
interface Side {
  /** Publishes one event stamped with `sentAt` (performance.now()) and resolves on its JetStream ack. */
  publish(id: string, sentAt: number): Promise<void>;
  /** Starts the subscription; `delivered(sentAt)` runs once per event handled. */
  subscribe(delivered: (sentAt: number) => void): Promise<void>;
  /** Stops consuming and removes the stream. */
  close(): Promise<void>;
}

interface Run {
  publishedPerSecond: number;
  deliveredPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  cpuMicrosPerEvent: number;
  errors: number;
}

const quantile = (sorted: readonly number[], q: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const round = (value: number) => Math.round(value * 100) / 100;

export async function measure(side: Side, options: Options): Promise<Run> {
  const latencies: number[] = [];
  await side.subscribe((sentAt) => latencies.push(performance.now() - sentAt));
  const cpu = process.cpuUsage();
  const started = performance.now();
  const deadline = started + options.durationSeconds * 1_000;
  let published = 0;
  let errors = 0;
  let sequence = 0;
  await Promise.all(
    Array.from({ length: options.connections }, async () => {
      while (performance.now() < deadline) {
        try {
          await side.publish(`e-${++sequence}`, performance.now());
          published++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const publishSeconds = (performance.now() - started) / 1_000;
  const drainDeadline = performance.now() + 60_000;
  while (latencies.length < published && performance.now() < drainDeadline)
    await new Promise((resolve) => setTimeout(resolve, 20));
  const elapsedSeconds = (performance.now() - started) / 1_000;
  const used = process.cpuUsage(cpu);
  await side.close();
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    publishedPerSecond: Math.round(published / publishSeconds),
    deliveredPerSecond: Math.round(latencies.length / elapsedSeconds),
    latencyP50Ms: round(quantile(sorted, 0.5)),
    latencyP99Ms: round(quantile(sorted, 0.99)),
    cpuMicrosPerEvent: round((used.user + used.system) / Math.max(1, latencies.length)),
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
  );
}

export function heraldSide(): Side {
  const adapter = natsChannelPlugin.create({
    config: natsConfigSchema.parse({ url: NATS_URL }),
    logger: pino({ level: "silent" }),
  }) as ChannelAdapter<NatsJetStreamChannelSpec>;
  const channel: ChannelTarget<NatsJetStreamChannelSpec> = {
    namespace: "bench",
    name: `adapter-${randomUUID().slice(0, 8)}`,
    uid: randomUUID(),
    spec: natsJetStreamChannelSpecSchema.parse({}),
  };
  const created = adapter.createChannel(channel);
  const event = (id: string, sentAt: number): CloudEvent => ({
    attributes: { ...BENCH_ATTRIBUTES, id, benchsent: String(sentAt) },
    data: BODY,
  });
  // One deadline signal for the run: arming a timer per publish is ingress's cost (the `herald` part
  // measures it), not the adapter's.
  const signal = new AbortController().signal;
  setMaxListeners(0, signal);
  return {
    publish: async (id, sentAt) => {
      await created;
      await adapter.publish(channel, [event(id, sentAt)], { signal });
    },
    subscribe: async (delivered) => {
      await created;
      const subscription = {
        namespace: "bench",
        name: "bench",
        uid: randomUUID(),
        ordering: "unordered" as const,
        maxInFlight: MAX_IN_FLIGHT,
      };
      await adapter.subscribe(channel, subscription, async (received) => {
        delivered(Number(received.attributes.benchsent));
      });
    },
    close: async () => {
      await adapter.deleteChannel(channel);
      await adapter.close();
    },
  };
}

const BENCH_ATTRIBUTES = {
  specversion: "1.0",
  source: "/bench",
  type: "dev.herald.bench",
  datacontenttype: "application/json",
};

/** The raw client: the adapter's stream, headers, message id and pull strategy, written out by hand. */
export function rawSide(): Side {
  const name = `RAW_BENCH_${randomUUID().slice(0, 8).toUpperCase()}`;
  const subject = `raw-bench.${name}._knative`;
  let stopped = false;
  let consuming: Promise<void> | undefined;
  const session = (async () => {
    // The client options the adapter uses for its publishes.
    const nc = await connect({ servers: NATS_URL, noAsyncTraces: true });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name, subjects: [subject], storage: "file", retention: "limits" });
    return { nc, jsm, js: jetstream(nc) };
  })();
  return {
    publish: async (id, sentAt) => {
      const { js } = await session;
      const headers = natsHeaders();
      for (const [attribute, value] of Object.entries(BENCH_ATTRIBUTES))
        headers.set(`ce-${attribute}`, value);
      headers.set("ce-id", id);
      headers.set("ce-benchsent", String(sentAt));
      await js.publish(subject, BODY, { headers, msgID: `/bench ${id}` });
    },
    subscribe: async (delivered) => {
      const { js, jsm } = await session;
      await jsm.consumers.add(name, {
        durable_name: "BENCH",
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.New,
        max_ack_pending: 1_000,
      });
      const consumer = await js.consumers.get(name, "BENCH");
      let inFlight = 0;
      let freed: (() => void) | undefined;
      const handle = async (message: JsMsg) => {
        delivered(Number(message.headers?.get("ce-benchsent")));
        message.ack();
        inFlight--;
        freed?.();
      };
      consuming = (async () => {
        while (!stopped) {
          if (inFlight >= MAX_IN_FLIGHT) {
            await new Promise<void>((resolve) => (freed = resolve));
            continue;
          }
          const messages = await consumer.fetch({ max_messages: MAX_IN_FLIGHT - inFlight, expires: 1_000 });
          for await (const message of messages) {
            inFlight++;
            void handle(message);
          }
        }
      })();
    },
    close: async () => {
      stopped = true;
      await consuming;
      const { nc, jsm } = await session;
      await jsm.streams.delete(name);
      await nc.close();
    },
  };
}

/** Publish and delivery through the adapter vs the raw client, alternating, BENCH_RUNS times each. */
export async function benchNatsAdapter(options: Options) {
  const runs = Number(process.env.BENCH_RUNS ?? 3);
  const herald: Run[] = [];
  const raw: Run[] = [];
  for (let run = 0; run < runs; run++) {
    raw.push(await measure(rawSide(), options));
    herald.push(await measure(heraldSide(), options));
  }
  const rawSummary = summary(raw);
  const heraldSummary = summary(herald);
  return {
    runs,
    maxInFlight: MAX_IN_FLIGHT,
    rawClient: rawSummary,
    heraldAdapter: heraldSummary,
    ratios: {
      publishVsRawClient: ratio(
        heraldSummary.publishedPerSecond!.median,
        rawSummary.publishedPerSecond!.median,
      ),
      deliveryVsRawClient: ratio(
        heraldSummary.deliveredPerSecond!.median,
        rawSummary.deliveredPerSecond!.median,
      ),
    },
  };
}

/** Herald ingress and end to end on a NatsJetStreamChannel, against the raw client publishing. */
export async function benchNatsHerald(options: Options) {
  const loadOptions = { ...options, headers: EVENT_HEADERS, body: EVENT_BODY, stamp: true };
  const publisher = rawSide();
  const rawClient = await loadRaw(
    { publish: (id) => publisher.publish(id, performance.now()), close: () => publisher.close() },
    options,
  ).finally(() => publisher.close());

  const subscriber = await startScript(COUNTING_SUBSCRIBER);
  const herald = await HeraldProcess.start({ env: { HERALD_LOG_LEVEL: "error", HERALD_NATS_URL: NATS_URL } });
  const channel = (name: string) => `
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: ${name} }
spec:
  channelTemplate:
    apiVersion: messaging.knative.dev/v1alpha1
    kind: NatsJetStreamChannel
`;
  try {
    await herald.apply(channel("bench-ingress"));
    const ingress = await load(herald.channelUrl("bench-ingress"), loadOptions);
    await herald.apply(`${channel("bench-e2e")}---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: bench-e2e }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: bench-e2e }
  subscriber: { uri: "http://127.0.0.1:${subscriber.port}/" }
`);
    const started = performance.now();
    const sent = await load(herald.channelUrl("bench-e2e"), loadOptions);
    const expected = sent.requests - sent.non2xx - sent.errors;
    const deadline = Date.now() + 120_000;
    let stats = { count: 0, p50: 0, p99: 0 };
    while (Date.now() < deadline) {
      stats = (await (await fetch(`http://127.0.0.1:${subscriber.port}/stats`)).json()) as typeof stats;
      if (stats.count >= expected) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const elapsedSeconds = (performance.now() - started) / 1_000;
    return {
      rawClient,
      heraldIngress: ingress,
      heraldEndToEnd: {
        ingress: sent,
        delivered: stats.count,
        eventsPerSecond: Math.round(stats.count / elapsedSeconds),
        latencyP50Ms: round(stats.p50),
        latencyP99Ms: round(stats.p99),
      },
      ratios: { ingressVsRawClient: ratio(ingress.requestsPerSecond, rawClient.requestsPerSecond) },
    };
  } finally {
    await herald.close();
    await subscriber.stop();
  }
}

export async function benchNats(options: Options) {
  return { adapter: await benchNatsAdapter(options), herald: await benchNatsHerald(options) };
}
