import { randomUUID } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import type { AttributeValue, CloudEvent } from "../../src/events/event.js";
import type { SourceContext } from "../source.js";
import { parseGoDuration } from "../../src/resources/duration.js";
import { parseGoFlags, type ArgProblem } from "./go-flags.js";
import type { NativeContainer, NativeImage } from "./native-image.js";

/**
 * Knative's sample image `heartbeats` (knative.dev/eventing `cmd/heartbeats`), as its program
 * behaves: one event now and one every `--period`, of type `dev.knative.eventing.samples.heartbeat`
 * (or `--eventType`), from `https://knative.dev/eventing-contrib/cmd/heartbeats/#<POD_NAMESPACE>/<POD_NAME>`
 * (or `--eventSource`), with the extensions `the: 42`, `heart: yes`, `beats: true`, those of the
 * `K_CE_OVERRIDES` variable a container may set, and JSON data `{"id": <1, 2, ...>, "label":
 * <--label>}` (with `"msg": <--msg>` when given).
 *
 * It sends to the ContainerSource's sink, so `--sink` and `--cacerts` are taken and have no effect,
 * as Knative's `K_SINK` and `K_CA_CERTS` win over them. Where the image exits when `POD_NAME` or
 * `POD_NAMESPACE` is missing, the ContainerSource's name and namespace stand in for them, as there is
 * no pod to name.
 */
export const HEARTBEAT_EVENT_TYPE = "dev.knative.eventing.samples.heartbeat";
const FLAGS = ["eventSource", "eventType", "sink", "cacerts", "label", "period", "msg"] as const;
const DEFAULT_PERIOD_MS = 5_000;

export interface HeartbeatsSettings {
  readonly periodMs: number;
  readonly eventType: string;
  /** Empty: the source named after the pod. */
  readonly eventSource: string;
  readonly label: string;
  readonly msg: string;
}

/** The settings the args give, or the first arg the image would exit on. */
export function heartbeatsSettings(
  args: readonly string[],
): { settings: HeartbeatsSettings } | { problem: ArgProblem } {
  const { values, indexes, problem } = parseGoFlags(args, FLAGS);
  if (problem) return { problem };
  const period = values.get("period") ?? "";
  // The image's own order: a Go duration, else whole seconds.
  const periodMs =
    period === ""
      ? DEFAULT_PERIOD_MS
      : (parseGoDuration(period) ?? (/^[-+]?\d+$/.test(period) ? Number(period) * 1_000 : undefined));
  if (periodMs === undefined || periodMs <= 0) {
    const message =
      periodMs === undefined
        ? `--period ${JSON.stringify(period)} is not a duration (a Go duration such as 1s or 500ms, or whole seconds)`
        : `--period ${JSON.stringify(period)} must be more than zero`;
    return { problem: { index: indexes.get("period") ?? 0, message } };
  }
  let label = values.get("label") ?? "";
  // The image unquotes a label that starts with a double quote (Go's strconv.Unquote; empty if it cannot).
  if (label.startsWith('"')) label = unquote(label);
  return {
    settings: {
      periodMs,
      eventType: values.get("eventType") || HEARTBEAT_EVENT_TYPE,
      eventSource: values.get("eventSource") ?? "",
      label,
      msg: values.get("msg") ?? "",
    },
  };
}

function unquote(text: string): string {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "string" ? value : "";
  } catch {
    return "";
  }
}

/** The event source: `--eventSource`, else the one the image names after its pod. */
export function heartbeatsSource(
  settings: HeartbeatsSettings,
  env: NativeContainer["env"],
  resource: SourceContext["resource"],
): string {
  if (settings.eventSource) return settings.eventSource;
  const namespace = env.POD_NAMESPACE ?? resource.namespace;
  const pod = env.POD_NAME ?? resource.name;
  return `https://knative.dev/eventing-contrib/cmd/heartbeats/#${namespace}/${pod}`;
}

/** Go's json.Marshal escapes these, so the data is byte for byte the image's. */
function goJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** The extensions of a `K_CE_OVERRIDES` variable (Knative's CloudEventOverrides JSON). */
function overridesOf(text: string | undefined): Record<string, string> {
  if (!text) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`env K_CE_OVERRIDES: not JSON: ${(error as Error).message}`, { cause: error });
  }
  const extensions = (parsed as { extensions?: unknown } | null)?.extensions ?? {};
  if (typeof extensions !== "object" || extensions === null || Array.isArray(extensions))
    throw new Error("env K_CE_OVERRIDES: extensions must be an object of strings");
  return Object.fromEntries(Object.entries(extensions).map(([name, value]) => [name, String(value)]));
}

function settingsOf(args: readonly string[]): HeartbeatsSettings {
  const parsed = heartbeatsSettings(args);
  // Refused at apply already; a stored spec is checked again in case it was written otherwise.
  if ("problem" in parsed) throw new Error(`args[${parsed.problem.index}]: ${parsed.problem.message}`);
  return parsed.settings;
}

export const heartbeatsImage: NativeImage = {
  name: "Knative's heartbeats sample",
  paths: ["knative.dev/eventing/cmd/heartbeats", "knative.dev/eventing-contrib/cmd/heartbeats"],
  argsProblem(args) {
    const parsed = heartbeatsSettings(args);
    return "problem" in parsed ? parsed.problem : undefined;
  },
  ceAttributes(container, resource) {
    const parsed = heartbeatsSettings(container.args);
    if ("problem" in parsed) return [];
    return [
      { type: parsed.settings.eventType, source: heartbeatsSource(parsed.settings, container.env, resource) },
    ];
  },
  async start(container, context) {
    const settings = settingsOf(container.args);
    const extensions = overridesOf(container.env.K_CE_OVERRIDES);
    const source = heartbeatsSource(settings, container.env, context.resource);
    const stopping = new AbortController();
    const signal = AbortSignal.any([context.signal, stopping.signal]);
    const heartbeat = (id: number): CloudEvent => {
      const attributes: Record<string, AttributeValue> = {
        specversion: "1.0",
        id: randomUUID(),
        type: settings.eventType,
        source,
        time: new Date().toISOString(),
        datacontenttype: "application/json",
        the: 42,
        heart: "yes",
        beats: true,
        ...extensions,
      };
      const data = { id, label: settings.label, ...(settings.msg ? { msg: settings.msg } : {}) };
      return { attributes, data: Buffer.from(goJson(data)) };
    };
    // As the image's ticker: one now, then one per period; a send longer than a period is followed
    // at once by the next, and the counter counts sends.
    const beating = (async () => {
      let next = Date.now();
      for (let id = 1; !signal.aborted; id++) {
        try {
          const accepted = await context.send(heartbeat(id));
          if (!accepted) context.logger.warn({ id }, "the sink refused a heartbeat");
        } catch (error) {
          if (!signal.aborted) context.logger.warn({ err: error, id }, "a heartbeat was not delivered");
        }
        next = Math.max(next + settings.periodMs, Date.now());
        try {
          await delay(next - Date.now(), undefined, { signal });
        } catch {
          return;
        }
      }
    })();
    context.setCondition(
      "Running",
      "True",
      "NativeImage",
      `Herald runs ${heartbeatsImage.name} itself: a heartbeat every ${settings.periodMs} ms`,
    );
    return {
      async stop() {
        stopping.abort();
        await beating;
      },
    };
  },
};
