import type { Level, Logger } from "pino";
import type { CloudEvent } from "../events/event.js";
import type { Resource } from "../resources/common.js";
import type { IntegrationSinkSpec, LogSinkLevel, LogSinkSpec } from "../resources/integration-sink.js";
import { coreKinds } from "../resources/kinds.js";
import { ConditionSet } from "../control/conditions.js";
import type { SinkAnswer } from "./endpoints.js";
import type { SinkReconcilerDeps } from "./event-transform.js";

export type IntegrationSinkResource = Resource<"IntegrationSink", IntegrationSinkSpec>;

/** sinks.knative.dev IntegrationSink (Knative's IntegrationSinkCondSet, the condition Herald has). */
export const integrationSinkConditions = new ConditionSet("Addressable");

/**
 * What an unset log-sink property means in Knative: the Kamelet's default, or the setting Knative's
 * log-sink connector image overrides it with (multiline, showHeaders, no body type, no exchange
 * pattern), since Knative passes on only the properties a manifest sets.
 */
const CONNECTOR_DEFAULTS = {
  loggerName: "log-sink",
  level: "INFO",
  logMask: false,
  multiline: true,
  showBody: true,
  showBodyType: false,
  showExchangePattern: false,
  showHeaders: true,
} as const;

const PINO_LEVELS: Readonly<Record<Exclude<LogSinkLevel, "OFF">, Level>> = {
  TRACE: "trace",
  DEBUG: "debug",
  INFO: "info",
  WARN: "warn",
  ERROR: "error",
};

/** Camel's exchange formatter clips a body after this many characters (its `maxChars`). */
const MAX_BODY_CHARS = 10_000;

/** Values Camel's masking formatter hides, after these keys (`password=...`, `"secret": "..."`). */
const SENSITIVE =
  "passphrase|password|secretkey|secret|accesskey|accesstoken|clientsecret|apikey|token|authorization";
const MASKED_PAIR = new RegExp(`((?:${SENSITIVE})\\s*=\\s*)([^,}\\s]+)`, "gi");
const MASKED_JSON = new RegExp(`("(?:${SENSITIVE})"\\s*:\\s*)"(?:[^"\\\\]|\\\\.)*"`, "gi");

function mask(text: string): string {
  return text.replace(MASKED_PAIR, "$1xxxxxx").replace(MASKED_JSON, '$1"xxxxxx"');
}

/** The event as HTTP binary-mode headers (CloudEvents HTTP binding 3.1.3), as the Kamelet receives them. */
function headersOf(event: CloudEvent): string {
  const headers = Object.entries(event.attributes)
    .map(([name, value]) => [name === "datacontenttype" ? "content-type" : `ce-${name}`, String(value)])
    .sort(([a], [b]) => a!.localeCompare(b!))
    .map(([name, value]) => `${name}=${value}`);
  return `{${headers.join(", ")}}`;
}

function bodyOf(event: CloudEvent): string {
  if (!event.data) return "[Body is null]";
  const text = event.data.toString("utf8");
  return text.length > MAX_BODY_CHARS
    ? `${text.slice(0, MAX_BODY_CHARS)}... [Body clipped after ${MAX_BODY_CHARS} chars, total length is ${text.length}]`
    : text;
}

/** Writes one event the way the log-sink Kamelet's exchange formatter does, with the parts asked. */
export function logLine(log: LogSinkSpec, event: CloudEvent): string {
  const setting = <Key extends keyof typeof CONNECTOR_DEFAULTS>(key: Key) =>
    log[key] ?? CONNECTOR_DEFAULTS[key];
  const shown: string[] = [];
  if (setting("showExchangePattern")) shown.push("ExchangePattern: InOnly");
  if (setting("showHeaders")) shown.push(`Headers: ${headersOf(event)}`);
  if (setting("showBodyType")) shown.push(`BodyType: ${event.data ? "byte[]" : "null"}`);
  if (setting("showBody")) shown.push(`Body: ${bodyOf(event)}`);
  const parts = setting("logMask") ? shown.map(mask) : shown;
  return setting("multiline")
    ? `Exchange[\n${parts.map((part) => `  ${part}\n`).join("")}]`
    : `Exchange[${parts.join(", ")}]`;
}

/** A sink's handler: logs each event at its level under its logger name, and answers 204. */
function logHandler(log: LogSinkSpec, logger: Logger): (event: CloudEvent) => Promise<SinkAnswer> {
  const level = (log.level ?? CONNECTOR_DEFAULTS.level).toUpperCase() as LogSinkLevel;
  const write = level === "OFF" ? undefined : PINO_LEVELS[level];
  const named = logger.child({
    name: log.loggerName ?? CONNECTOR_DEFAULTS.loggerName,
    ...(log.marker ? { marker: log.marker } : {}),
  });
  // Knative's log-sink connector answers 204 No Content once the event is logged.
  return (event) => {
    if (write && named.isLevelEnabled(write)) named[write](logLine(log, event));
    return Promise.resolve({ status: 204 });
  };
}

/**
 * sinks.knative.dev IntegrationSink with `spec.log`, run in Herald instead of Knative's log-sink
 * connector: addressable at `/sinks/integrationsinks/{namespace}/{name}`, it writes each event
 * posted to it to Herald's log and answers 204. An IntegrationSink for AWS is refused at apply.
 */
export class IntegrationSinkReconciler {
  private readonly running = new Map<string, { readonly uid: string; readonly generation: number }>();
  private static readonly PLURAL = coreKinds.integrationSink.plural;

  constructor(private readonly deps: SinkReconcilerDeps) {}

  reconcile(): void {
    const { store, status, endpoints, logger } = this.deps;
    const plural = IntegrationSinkReconciler.PLURAL;
    const seen = new Set<string>();
    for (const resource of store.list(coreKinds.integrationSink)) {
      const { namespace, name, uid, generation } = resource.metadata;
      const key = `${namespace}/${name}`;
      seen.add(key);
      const current = this.running.get(key);
      if (!current || current.uid !== uid || current.generation !== generation) {
        // Only a log sink passes validation: the AWS sinks are refused at apply.
        const sinkLogger = logger.child({ integrationSink: key });
        endpoints.set(plural, namespace, name, logHandler(resource.spec.log!, sinkLogger));
        this.running.set(key, { uid, generation });
      }
      const url = `${this.deps.baseUrl()}/sinks/${plural}/${namespace}/${name}`;
      const address = endpoints.address(plural, namespace, name, url);
      status.set(resource, {
        address,
        addresses: [address],
        conditions: status.conditions(resource, [integrationSinkConditions.markTrue("Addressable")]),
      });
    }
    for (const key of this.running.keys()) {
      if (seen.has(key)) continue;
      const [namespace, name] = key.split("/") as [string, string];
      endpoints.delete(plural, namespace, name);
      this.running.delete(key);
    }
  }
}
