import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { REPLAY_EXTENSION, type SubscriptionTarget } from "../../adapters/adapter.js";
import type { Sender } from "../dispatcher/sender.js";
import { withAttributes, type CloudEvent } from "../events/event.js";
import { HeraldError } from "../errors.js";
import { CesqlParseError, parseCesql, type CompiledCesql } from "../filters/cesql/index.js";
import type { ChannelDirectory, ChannelRuntime } from "./directory.js";

/** The name of Herald's own subscription on a dead-letter channel (it cannot clash: Knative names have no '~'). */
const READER_NAME = "herald-dead-letters";
/** How long a read waits for the first dead letter (a Kafka consumer group joins in seconds). */
const FIRST_EVENT_WAIT_MS = 8_000;
/** A read ends once no further dead letter came for this long. */
const IDLE_MS = 750;
/** The most dead letters one call handles. */
export const MAX_DEAD_LETTERS = 1_000;
const ERROR_EXTENSIONS = ["knativeerrordest", "knativeerrorcode", "knativeerrordata"] as const;

/** A dead letter as `herald dlq list` shows it. */
export interface DeadLetterSummary {
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly time?: string | undefined;
  /** Where delivery failed (knativeerrordest). */
  readonly destination?: string | undefined;
  readonly code?: string | undefined;
  /** knativeerrordata, decoded from base64. */
  readonly error?: string | undefined;
}

export interface RedriveOptions {
  /** Only the dead letters this CESQL expression accepts are sent. */
  readonly filter?: string | undefined;
  /** Events per second at most. */
  readonly rate?: number | undefined;
  readonly limit: number;
}

export interface RedriveReport {
  /** Delivered to their knativeerrordest, and gone from the dead-letter channel. */
  readonly sent: number;
  /** Refused again: back at the end of the dead-letter channel with the new error. */
  readonly failed: number;
  /** Not selected (the filter, or no knativeerrordest): back at the end of the dead-letter channel. */
  readonly remained: number;
}

interface Held {
  readonly event: CloudEvent;
  readonly settle: (take: boolean) => void;
}

export interface DeadLetterDeps {
  readonly directory: ChannelDirectory;
  readonly sender: Sender;
  readonly logger: Logger;
  readonly dataDir: string;
}

/**
 * Dead letters kept in a Herald channel (a channel used as a `deadLetterSink`), read through its
 * adapter like any subscription: Herald's own durable subscription `herald-dead-letters` on it. The
 * first read creates it and, on a backend that replays, seeks it to the beginning, so it sees the
 * dead letters the channel kept before; on one that does not (InMemoryChannel, RabbitMQ) it sees
 * those dead-lettered after that first read. Each read takes up to MAX_DEAD_LETTERS events, waiting
 * until none came for IDLE_MS (FIRST_EVENT_WAIT_MS for the first).
 *
 * `list` and `show` acknowledge nothing: the events stay for the next read. `redrive` sends each
 * selected event to the destination it failed at (`knativeerrordest`) without the error extensions;
 * a delivered one is acknowledged (gone), and one refused again or not selected is published again
 * at the end of the channel (with the new error for a refused one) and the original acknowledged, so
 * the channel always holds exactly what remains, in a new order. Redriven deliveries are plain
 * (no retry, the channel's CA set and sender identity are not applied).
 */
export class DeadLetterService {
  /** One read at a time per channel: Herald's subscription is shared. */
  private readonly busy = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: DeadLetterDeps) {}

  async list(namespace: string, channel: string, limit = MAX_DEAD_LETTERS): Promise<DeadLetterSummary[]> {
    return this.read(namespace, channel, limit, async (held) => {
      for (const one of held) one.settle(false);
      return held.map(({ event }) => summaryOf(event));
    });
  }

  async show(
    namespace: string,
    channel: string,
    id: string,
  ): Promise<{ summary: DeadLetterSummary; event: CloudEvent }> {
    const found = await this.read(namespace, channel, MAX_DEAD_LETTERS, async (held) => {
      for (const one of held) one.settle(false);
      return held.find(({ event }) => String(event.attributes.id) === id)?.event;
    });
    if (!found)
      throw new HeraldError("NotFound", `no dead letter with id ${id} in channel ${namespace}/${channel}`);
    return { summary: summaryOf(found), event: found };
  }

  async redrive(namespace: string, channel: string, options: RedriveOptions): Promise<RedriveReport> {
    let filter: CompiledCesql | undefined;
    if (options.filter !== undefined) {
      try {
        filter = parseCesql(options.filter);
      } catch (error) {
        const message = error instanceof CesqlParseError ? error.message : String(error);
        throw new HeraldError("BadRequest", `filter: ${message}`, { field: "filter" });
      }
    }
    const runtime = this.runtimeOf(namespace, channel);
    return this.read(namespace, channel, options.limit, async (held) => {
      let sent = 0;
      let failed = 0;
      let remained = 0;
      const slotMs = options.rate ? 1000 / options.rate : 0;
      let nextSlot = 0;
      const again: CloudEvent[] = [];
      for (const { event, settle } of held) {
        const destination = event.attributes.knativeerrordest;
        const selected =
          typeof destination === "string" && (!filter || filter.evaluate(event).value === true);
        if (!selected) {
          again.push(event);
          remained++;
          settle(true);
          continue;
        }
        if (slotMs > 0) {
          const now = performance.now();
          const at = Math.max(now, nextSlot);
          nextSlot = at + slotMs;
          if (at > now) await new Promise((resolve) => setTimeout(resolve, at - now));
        }
        const cleaned = withAttributes(
          event,
          Object.fromEntries(ERROR_EXTENSIONS.map((name) => [name, undefined])),
        );
        const result = await this.deps.sender.send(destination, cleaned, { timeoutMs: 30_000 });
        if (result.ok) {
          sent++;
        } else {
          failed++;
          const body = result.body && result.body.length > 0 ? result.body : Buffer.from(result.error ?? "");
          again.push(
            withAttributes(event, {
              knativeerrorcode: result.status === undefined ? undefined : String(result.status),
              knativeerrordata: body.length > 0 ? body.subarray(0, 1024).toString("base64") : undefined,
            }),
          );
        }
        settle(true);
      }
      if (again.length > 0)
        await runtime.adapter.publish(runtime.target, again, { signal: AbortSignal.timeout(30_000) });
      this.deps.logger.info(
        { channel: `${namespace}/${channel}`, sent, failed, remained },
        "dead letters redriven",
      );
      return { sent, failed, remained };
    });
  }

  private runtimeOf(namespace: string, channel: string): ChannelRuntime {
    const runtime = this.deps.directory.atAddress(namespace, channel);
    if (!runtime) throw new HeraldError("NotFound", `channel ${namespace}/${channel} is not running`);
    return runtime;
  }

  /**
   * Holds up to `limit` dead letters in handler calls, hands them to `decide` (which settles each:
   * true acknowledges, false leaves it), then closes Herald's subscription.
   */
  private async read<T>(
    namespace: string,
    channel: string,
    limit: number,
    decide: (held: Held[]) => Promise<T>,
  ): Promise<T> {
    const runtime = this.runtimeOf(namespace, channel);
    const key = `${namespace}/${channel}`;
    const previous = this.busy.get(key) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.readNow(runtime, limit, decide));
    this.busy.set(key, run);
    try {
      return await run;
    } finally {
      if (this.busy.get(key) === run) this.busy.delete(key);
    }
  }

  private async readNow<T>(
    runtime: ChannelRuntime,
    limit: number,
    decide: (held: Held[]) => Promise<T>,
  ): Promise<T> {
    const { adapter, target } = runtime;
    const reader: SubscriptionTarget = {
      namespace: target.namespace,
      name: READER_NAME,
      uid: `${target.uid}-dead-letters`,
      ordering: "unordered",
      maxInFlight: limit,
    };
    const held: Held[] = [];
    const seen = new Set<string>();
    let lastAt = performance.now();
    const handle = await adapter.subscribe(target, reader, (delivered) => {
      // The first read replays the channel: that is how the reader sees it, not part of the event.
      const event = withAttributes(delivered, { [REPLAY_EXTENSION]: undefined });
      const key = `${String(event.attributes.source)}\u0000${String(event.attributes.id)}`;
      if (held.length >= limit || seen.has(key)) return Promise.reject(new Error("not taken in this read"));
      seen.add(key);
      lastAt = performance.now();
      return new Promise<void>((resolve, reject) => {
        held.push({ event, settle: (take) => (take ? resolve() : reject(new Error("left in the channel"))) });
      });
    });
    let settled = false;
    try {
      await this.startOnce(runtime, reader);
      const startedAt = performance.now();
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        const now = performance.now();
        if (held.length >= limit) break;
        if (held.length === 0 ? now - startedAt > FIRST_EVENT_WAIT_MS : now - lastAt > IDLE_MS) break;
      }
      const result = await decide(held);
      settled = true;
      return result;
    } finally {
      if (!settled) for (const one of held) one.settle(false);
      await handle.close();
    }
  }

  /** The first read of a channel seeks Herald's subscription to the beginning, where the backend replays. */
  private async startOnce(runtime: ChannelRuntime, reader: SubscriptionTarget): Promise<void> {
    const marker = join(
      this.deps.dataDir,
      "dead-letters",
      runtime.target.namespace,
      `${runtime.target.name}.json`,
    );
    const recorded = await readFile(marker, "utf8").then(
      (text) => (JSON.parse(text) as { uid?: string }).uid,
      () => undefined,
    );
    if (recorded === runtime.target.uid) return;
    const { adapter } = runtime;
    const support = adapter.replaySupport?.(runtime.target);
    if (adapter.seek && support?.replayable && support.from.includes("beginning"))
      await adapter.seek(runtime.target, reader, { from: "beginning" });
    await mkdir(join(this.deps.dataDir, "dead-letters", runtime.target.namespace), { recursive: true });
    await writeFile(marker, JSON.stringify({ uid: runtime.target.uid }));
  }
}

function summaryOf(event: CloudEvent): DeadLetterSummary {
  const { attributes } = event;
  const text = (name: string) => (attributes[name] === undefined ? undefined : String(attributes[name]));
  const data = text("knativeerrordata");
  return {
    id: String(attributes.id),
    source: String(attributes.source),
    type: String(attributes.type),
    time: text("time"),
    destination: text("knativeerrordest"),
    code: text("knativeerrorcode"),
    error: data === undefined ? undefined : Buffer.from(data, "base64").toString("utf8"),
  };
}
