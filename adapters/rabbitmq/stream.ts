import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ConsumeMessage } from "amqplib";
import type { Logger } from "pino";
import { replayMark, type ReplayPosition } from "../adapter.js";
import { ACCEPTED_HEADER } from "./binding.js";
import type { StreamCursor } from "./consumer.js";

/** How often a moving position is written. */
const STORE_INTERVAL_MS = 100;

/** What is kept per stream queue (one subscription's). */
interface StreamState {
  /** The offset of the first message not yet handled. */
  offset?: number | undefined;
  /** Where the next consumer starts, set by a seek until a message was handled from there. */
  seek?:
    | { readonly from: "first" }
    | { readonly from: "offset"; readonly offset: number }
    | { readonly from: "time"; readonly ms: number };
  /** A replay under way: messages accepted before `until` are marked; before `from`, skipped. */
  replay?: { readonly mark: string; readonly until: number; readonly from?: number | undefined };
}

/**
 * The positions of the subscriptions whose queues are RabbitMQ streams. RabbitMQ tracks no offset for
 * AMQP 0-9-1 consumers of a stream, so Herald keeps each one, in `<data dir>/rabbitmq-streams/` when it
 * has a data directory (in memory otherwise), written every STORE_INTERVAL_MS while it moves and on
 * close: after a crash the messages handled since are delivered again (at-least-once). A subscription
 * without a position starts at the first message its stream keeps (the stream is created with it).
 * One Herald process runs a stream subscription: two would each read every message.
 */
export class StreamPositions {
  private readonly states = new Map<string, StreamState>();
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly dir: string | undefined,
    private readonly logger: Logger,
  ) {}

  private fileOf(queue: string): string | undefined {
    return this.dir && join(this.dir, `${queue}.json`);
  }

  private async stateOf(queue: string): Promise<StreamState> {
    let state = this.states.get(queue);
    if (state) return state;
    const file = this.fileOf(queue);
    state = file
      ? await readFile(file, "utf8").then(
          (text) => JSON.parse(text) as StreamState,
          () => ({}),
        )
      : {};
    this.states.set(queue, state);
    return state;
  }

  private async store(queue: string): Promise<void> {
    const file = this.fileOf(queue);
    const state = this.states.get(queue);
    if (!file || !this.dir || !state) return;
    await mkdir(this.dir, { recursive: true });
    await writeFile(`${file}.tmp`, JSON.stringify(state));
    await rename(`${file}.tmp`, file);
  }

  private storeSoon(queue: string): void {
    if (this.timers.has(queue)) return;
    const timer = setTimeout(() => {
      this.timers.delete(queue);
      this.store(queue).catch((error: unknown) =>
        this.logger.warn({ err: (error as Error).message, queue }, "storing a stream position failed"),
      );
    }, STORE_INTERVAL_MS);
    timer.unref();
    this.timers.set(queue, timer);
  }

  /** The cursor of a consumer of `queue` (its state loaded first). */
  async cursor(queue: string): Promise<StreamCursor> {
    const state = await this.stateOf(queue);
    const inFlight = new Set<number>();
    let highest = -1;
    return {
      start: () => {
        const { seek } = state;
        if (seek?.from === "offset") return seek.offset;
        if (seek?.from === "time") return { "!": "timestamp", value: Math.floor(seek.ms / 1000) };
        if (seek?.from === "first") return "first";
        return state.offset ?? "first";
      },
      taken: (offset) => {
        inFlight.add(offset);
        highest = Math.max(highest, offset);
      },
      done: (offset) => {
        inFlight.delete(offset);
        state.offset = inFlight.size > 0 ? Math.min(...inFlight) : highest + 1;
        state.seek = undefined;
        this.storeSoon(queue);
      },
      verdict: (message: ConsumeMessage) => {
        const { replay } = state;
        if (!replay) return { skip: false, mark: undefined };
        const accepted = Number(message.properties.headers?.[ACCEPTED_HEADER]);
        // A stream starts a time at its chunk: messages of that chunk accepted earlier are skipped.
        if (replay.from !== undefined && accepted < replay.from) return { skip: true };
        return { skip: false, mark: accepted < replay.until ? replay.mark : undefined };
      },
    };
  }

  /** Where the next consumer of `queue` starts, and which messages are replays. */
  async seek(queue: string, position: ReplayPosition): Promise<void> {
    const state = await this.stateOf(queue);
    state.seek =
      position.from === "beginning"
        ? { from: "first" }
        : position.from === "offset"
          ? { from: "offset", offset: position.offset }
          : { from: "time", ms: position.time.getTime() };
    state.replay = {
      mark: replayMark(position),
      until: Date.now(),
      from: position.from === "time" ? position.time.getTime() : undefined,
    };
    await this.store(queue);
  }

  /** Forgets a deleted subscription's position. */
  async forget(queue: string): Promise<void> {
    clearTimeout(this.timers.get(queue));
    this.timers.delete(queue);
    this.states.set(queue, {});
    await this.store(queue);
    this.states.delete(queue);
  }

  /** Writes the positions that moved since they were last written. */
  async close(): Promise<void> {
    const queues = [...this.timers.keys()];
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    await Promise.all(queues.map((queue) => this.store(queue).catch(() => undefined)));
  }
}
