import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { Cron } from "croner";
import { z } from "zod";
import type { AttributeValue } from "../../src/events/event.js";
import { sourceUri, type SourceFactory } from "../source.js";
import { InFlight } from "../support.js";

/** Knative's schedule may carry its timezone as a `CRON_TZ=` (or `TZ=`) prefix. */
function splitSchedule(schedule: string): { pattern: string; timezone?: string } {
  const match = /^(?:CRON_TZ|TZ)=(\S+)\s+(.*)$/.exec(schedule.trim());
  return match ? { pattern: match[2]!, timezone: match[1]! } : { pattern: schedule.trim() };
}

function isTimezone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

function cronProblem(schedule: string): string | undefined {
  const { pattern, timezone } = splitSchedule(schedule);
  if (timezone && !isTimezone(timezone)) return `unknown timezone ${timezone}`;
  try {
    new Cron(pattern, { paused: true }).stop();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * sources.knative.dev/v1 PingSource: fires an event on a cron schedule. `schedule` is a standard
 * five-field cron expression (Knative's), optionally with a leading seconds field, `@hourly`-style
 * nicknames, and a `CRON_TZ=` prefix; `timezone` names an IANA zone.
 */
const specSchema = z
  .object({
    schedule: z.string({ error: "is required" }).superRefine((schedule, ctx) => {
      const problem = cronProblem(schedule);
      if (problem) ctx.addIssue({ code: "custom", message: `not a valid cron schedule: ${problem}` });
    }),
    timezone: z
      .string()
      .refine(isTimezone, "must be an IANA timezone name (for example Europe/Paris)")
      .optional(),
    contentType: z.string().optional(),
    data: z.string().optional(),
    dataBase64: z.base64("must be base64").optional(),
  })
  .superRefine((spec, ctx) => {
    if (spec.data !== undefined && spec.dataBase64 !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["dataBase64"],
        message: "only one of data and dataBase64 may be set",
      });
    }
  });

export const PING_EVENT_TYPE = "dev.knative.sources.ping";
/** Fires still being retried towards a sink that is down; beyond this, a fire is skipped. */
const MAX_PENDING_FIRES = 10;

export const pingSource: SourceFactory<typeof specSchema> = {
  group: "sources.knative.dev",
  versions: ["v1", "v1beta2"],
  kind: "PingSource",
  plural: "pingsources",
  shortNames: ["ping", "pingsource"],
  specSchema,
  ceAttributes: (_spec, resource) => [{ type: PING_EVENT_TYPE, source: sourceUri("pingsources", resource) }],
  async start(spec, context) {
    const { pattern, timezone: prefixZone } = splitSchedule(spec.schedule);
    const timezone = spec.timezone ?? prefixZone;
    const source = sourceUri("pingsources", context.resource);
    const data =
      spec.dataBase64 !== undefined
        ? Buffer.from(spec.dataBase64, "base64")
        : spec.data !== undefined
          ? Buffer.from(spec.data)
          : undefined;
    // The last scheduled time that fired survives restarts, so one scheduled time never fires twice.
    const readLast = (): number => {
      try {
        return Number(
          (JSON.parse(readFileSync(context.stateFile, "utf8")) as { lastFire?: number }).lastFire ?? 0,
        );
      } catch {
        return 0;
      }
    };
    let lastFire = readLast();
    const sends = new InFlight();
    const job = new Cron(pattern, { timezone, protect: false, catch: true }, (self: Cron) => {
      const scheduled = self.currentRun() ?? new Date();
      const at = Math.floor(scheduled.getTime() / 1000) * 1000;
      if (at <= lastFire) return;
      if (sends.size >= MAX_PENDING_FIRES) {
        context.logger.warn(
          { pending: sends.size },
          "the sink has not accepted the last fires; this one is skipped, as a missed fire",
        );
        return;
      }
      lastFire = at;
      writeFileSync(context.stateFile, JSON.stringify({ lastFire: at }), { mode: 0o600 });
      const attributes: Record<string, AttributeValue> = {
        specversion: "1.0",
        id: randomUUID(),
        type: PING_EVENT_TYPE,
        source,
        time: new Date(at).toISOString(),
      };
      if (spec.contentType) attributes.datacontenttype = spec.contentType;
      const send = context.send({ attributes, data }).catch((error: unknown) => {
        if (!context.signal.aborted) context.logger.warn({ err: error }, "ping event was not delivered");
      });
      sends.track(send);
    });
    context.setCondition("Scheduled", "True");
    return {
      async stop() {
        job.stop();
        await sends.settled();
      },
    };
  },
};
