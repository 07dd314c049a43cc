import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { SourceContext, SourceWorker } from "../source.js";

/**
 * What Knative's timer-source connector sends: its CloudEvents overrides (`ce-type`, `ce-source`,
 * `ce-subject`), as knative-extensions/eventing-integrations' timer-source sets them.
 */
export const TIMER_EVENT = {
  type: "dev.knative.eventing.timer",
  source: "dev.knative.eventing.timer-source",
  subject: "timer-source",
} as const;

/** Camel's timer component waits this long before its first fire (its `delay` option's default). */
const FIRST_FIRE_MS = 1_000;

export interface TimerSpec {
  readonly period: number;
  readonly message: string;
  readonly contentType: string;
  readonly repeatCount?: number | undefined;
}

/** The fires already counted towards `repeatCount`, kept in the source's state file across restarts. */
function readFired(stateFile: string): number {
  try {
    const { fired } = JSON.parse(readFileSync(stateFile, "utf8")) as { fired?: unknown };
    return typeof fired === "number" && Number.isInteger(fired) && fired > 0 ? fired : 0;
  } catch {
    return 0;
  }
}

/**
 * Fires one event with `message` as its data every `period` milliseconds, the first one second
 * after the start, as Camel's timer does. A fire waits for the previous send to end (Camel's timer
 * runs its route in its own thread, one fire at a time), so a sink that is down delays the next
 * fire rather than piling fires up. With `repeatCount` above 0 the timer stops after that many
 * fires, counted across restarts of Herald; 0 or less fires for as long as the source runs.
 */
export function startTimer(spec: TimerSpec, context: SourceContext): SourceWorker {
  const limit = spec.repeatCount !== undefined && spec.repeatCount > 0 ? spec.repeatCount : undefined;
  const data = Buffer.from(spec.message);
  let fired = limit === undefined ? 0 : readFired(context.stateFile);
  const fire = async (): Promise<void> => {
    fired += 1;
    if (limit !== undefined) writeFileSync(context.stateFile, JSON.stringify({ fired }), { mode: 0o600 });
    const delivered = await context.send({
      attributes: {
        specversion: "1.0",
        id: randomUUID(),
        ...TIMER_EVENT,
        time: new Date().toISOString(),
        datacontenttype: spec.contentType,
      },
      data,
    });
    if (!delivered) context.logger.warn({ fired }, "the sink refused a timer event");
  };
  const run = async (): Promise<void> => {
    let wait = FIRST_FIRE_MS;
    while (limit === undefined || fired < limit) {
      await sleep(wait, undefined, { signal: context.signal });
      const started = Date.now();
      await fire();
      wait = Math.max(0, started + spec.period - Date.now());
    }
    context.logger.info({ repeatCount: limit }, "the timer fired repeatCount times and stops");
  };
  const running = run().catch((error: unknown) => {
    if (!context.signal.aborted) context.logger.error({ err: error }, "the timer stopped");
  });
  return {
    async stop() {
      // The runtime aborts context.signal before stop(): the wait ends, a send in flight rejects.
      await running;
    },
  };
}
