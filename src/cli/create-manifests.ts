/**
 * The Knative manifests `herald create` builds from its flags, as `kn` does: pure functions that
 * check every flag (a bad one throws CreateUsageError naming it) and return the manifest to apply.
 *
 * Sinks are written as kn writes them: `ksvc:NAME` (a Knative Service), `svc:NAME` (a Service),
 * `broker:NAME`, `channel:NAME`, or an http(s) URL.
 */
type Destination = { uri: string } | { ref: { apiVersion: string; kind: string; name: string } };

const SINK_PREFIXES: Record<string, { apiVersion: string; kind: string }> = {
  ksvc: { apiVersion: "serving.knative.dev/v1", kind: "Service" },
  svc: { apiVersion: "v1", kind: "Service" },
  broker: { apiVersion: "eventing.knative.dev/v1", kind: "Broker" },
  channel: { apiVersion: "messaging.knative.dev/v1", kind: "Channel" },
};

/** Channel types `--type` takes, as kn's shorthands, or `group:version:Kind`. */
const CHANNEL_TYPES: Record<string, { apiVersion: string; kind: string }> = {
  imc: { apiVersion: "messaging.knative.dev/v1", kind: "InMemoryChannel" },
  kafka: { apiVersion: "messaging.knative.dev/v1beta1", kind: "KafkaChannel" },
};

const DNS_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A flag value that is wrong; the message names the flag. */
export class CreateUsageError extends Error {}

/** Parses a kn sink (`ksvc:NAME`, `svc:NAME`, `broker:NAME`, `channel:NAME` or a URL) for `flag`. */
export function parseSink(flag: string, value: string): Destination {
  if (/^https?:\/\//.test(value)) {
    if (!URL.canParse(value)) throw new CreateUsageError(`${flag} ${value}: not a valid URL`);
    return { uri: value };
  }
  const colon = value.indexOf(":");
  const prefix = colon > 0 ? value.slice(0, colon) : "";
  const name = value.slice(colon + 1);
  const target = SINK_PREFIXES[prefix];
  if (!target || !DNS_NAME.test(name))
    throw new CreateUsageError(
      `${flag} ${value}: must be ksvc:NAME, svc:NAME, broker:NAME, channel:NAME or an http(s) URL`,
    );
  return { ref: { ...target, name } };
}

/** Parses `--filter key=value` pairs into Trigger filter attributes. */
export function parseFilters(values: readonly string[]): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const value of values) {
    const equals = value.indexOf("=");
    const key = equals > 0 ? value.slice(0, equals) : "";
    if (!/^[a-z0-9]+$/.test(key))
      throw new CreateUsageError(
        `--filter ${value}: must be attribute=value, the attribute in lower-case letters and digits`,
      );
    attributes[key] = value.slice(equals + 1);
  }
  return attributes;
}

function checkName(name: string): void {
  if (!DNS_NAME.test(name) || name.length > 253)
    throw new CreateUsageError(`NAME ${name}: must be a lowercase RFC 1123 name (a-z, 0-9, '-', '.')`);
}

/** A manifest of the kind in the namespace, its spec as given. */
export function manifest(
  apiVersion: string,
  kind: string,
  name: string,
  namespace: string,
  spec: object,
  annotations?: Record<string, string>,
) {
  return {
    apiVersion,
    kind,
    metadata: { name, namespace, ...(annotations ? { annotations } : {}) },
    spec,
  };
}

export interface TriggerFlags {
  broker: string;
  sink?: string;
  filter: string[];
  namespace: string;
}

export function triggerManifest(name: string, flags: TriggerFlags) {
  checkName(name);
  if (!flags.sink) throw new CreateUsageError("--sink is required: where the Trigger delivers");
  const attributes = parseFilters(flags.filter);
  return manifest("eventing.knative.dev/v1", "Trigger", name, flags.namespace, {
    broker: flags.broker,
    ...(Object.keys(attributes).length > 0 ? { filter: { attributes } } : {}),
    subscriber: parseSink("--sink", flags.sink),
  });
}

export interface SubscriptionFlags {
  channel?: string;
  sink?: string;
  sinkReply?: string;
  sinkDeadLetter?: string;
  namespace: string;
}

/** `--channel NAME` is a Channel; `imc:NAME`, `kafka:NAME` or `group:version:Kind:NAME` another kind. */
function channelReference(value: string): { apiVersion: string; kind: string; name: string } {
  const parts = value.split(":");
  const name = parts.at(-1)!;
  if (!DNS_NAME.test(name))
    throw new CreateUsageError(
      `--channel ${value}: must be NAME, imc:NAME, kafka:NAME or group:version:Kind:NAME`,
    );
  if (parts.length === 1) return { apiVersion: "messaging.knative.dev/v1", kind: "Channel", name };
  if (parts.length === 2 && CHANNEL_TYPES[parts[0]!]) return { ...CHANNEL_TYPES[parts[0]!]!, name };
  if (parts.length === 4) return { apiVersion: `${parts[0]}/${parts[1]}`, kind: parts[2]!, name };
  throw new CreateUsageError(
    `--channel ${value}: must be NAME, imc:NAME, kafka:NAME or group:version:Kind:NAME`,
  );
}

export function subscriptionManifest(name: string, flags: SubscriptionFlags) {
  checkName(name);
  if (!flags.channel) throw new CreateUsageError("--channel is required: the channel to subscribe to");
  if (!flags.sink && !flags.sinkReply)
    throw new CreateUsageError("--sink is required (or --sink-reply): where the Subscription delivers");
  return manifest("messaging.knative.dev/v1", "Subscription", name, flags.namespace, {
    channel: channelReference(flags.channel),
    ...(flags.sink ? { subscriber: parseSink("--sink", flags.sink) } : {}),
    ...(flags.sinkReply ? { reply: parseSink("--sink-reply", flags.sinkReply) } : {}),
    ...(flags.sinkDeadLetter
      ? { delivery: { deadLetterSink: parseSink("--sink-dead-letter", flags.sinkDeadLetter) } }
      : {}),
  });
}

export function channelManifest(name: string, flags: { type?: string; namespace: string }) {
  checkName(name);
  if (!flags.type) return manifest("messaging.knative.dev/v1", "Channel", name, flags.namespace, {});
  const parts = flags.type.split(":");
  const template =
    CHANNEL_TYPES[flags.type] ??
    (parts.length === 3 ? { apiVersion: `${parts[0]}/${parts[1]}`, kind: parts[2]! } : undefined);
  if (!template)
    throw new CreateUsageError(
      `--type ${flags.type}: must be imc, kafka or group:version:Kind (messaging.knative.dev:v1:InMemoryChannel)`,
    );
  return manifest("messaging.knative.dev/v1", "Channel", name, flags.namespace, {
    channelTemplate: template,
  });
}

export function brokerManifest(name: string, flags: { class?: string; dlSink?: string; namespace: string }) {
  checkName(name);
  const spec = flags.dlSink ? { delivery: { deadLetterSink: parseSink("--dl-sink", flags.dlSink) } } : {};
  return manifest(
    "eventing.knative.dev/v1",
    "Broker",
    name,
    flags.namespace,
    spec,
    flags.class ? { "eventing.knative.dev/broker.class": flags.class } : undefined,
  );
}

export interface PingFlags {
  schedule: string;
  data?: string;
  encoding: string;
  sink?: string;
  ceOverride: string[];
  namespace: string;
}

/** `--ce-override key=value` pairs: CloudEvents extensions a source adds to its events. */
export function parseCeOverrides(values: readonly string[]): {
  ceOverrides?: { extensions: Record<string, string> };
} {
  if (values.length === 0) return {};
  const extensions: Record<string, string> = {};
  for (const value of values) {
    const equals = value.indexOf("=");
    const key = equals > 0 ? value.slice(0, equals) : "";
    if (!/^[a-z0-9]+$/.test(key))
      throw new CreateUsageError(
        `--ce-override ${value}: must be key=value, the key in lower-case letters and digits`,
      );
    extensions[key] = value.slice(equals + 1);
  }
  return { ceOverrides: { extensions } };
}

export interface ApiServerFlags {
  resource: string[];
  mode: string;
  serviceAccount?: string;
  sink?: string;
  ceOverride: string[];
  namespace: string;
}

/**
 * `kn source apiserver create`: each `--resource` is `Kind:apiVersion` (kn's form, `Event:v1`,
 * `Broker:eventing.knative.dev/v1`), optionally `:key=value` for a label selector.
 */
export function apiServerSourceManifest(name: string, flags: ApiServerFlags) {
  checkName(name);
  if (!flags.sink) throw new CreateUsageError("--sink is required: where the ApiServerSource sends");
  if (flags.resource.length === 0)
    throw new CreateUsageError(
      "--resource is required: Kind:apiVersion, such as Broker:eventing.knative.dev/v1",
    );
  const mode = { ref: "Reference", reference: "Reference", resource: "Resource" }[flags.mode.toLowerCase()];
  if (!mode) throw new CreateUsageError(`--mode ${flags.mode}: must be Reference or Resource`);
  const resources = flags.resource.map((value) => {
    const [kind, apiVersion, selector, ...rest] = value.split(":");
    if (
      !kind ||
      !apiVersion ||
      rest.length > 0 ||
      (selector !== undefined && !/^[^=]+=[^=]*$/.test(selector))
    )
      throw new CreateUsageError(
        `--resource ${value}: must be Kind:apiVersion or Kind:apiVersion:label=value`,
      );
    const [key, labelValue] = selector?.split("=") ?? [];
    return { apiVersion, kind, ...(key ? { selector: { matchLabels: { [key]: labelValue ?? "" } } } : {}) };
  });
  return manifest("sources.knative.dev/v1", "ApiServerSource", name, flags.namespace, {
    mode,
    resources,
    ...(flags.serviceAccount ? { serviceAccountName: flags.serviceAccount } : {}),
    ...parseCeOverrides(flags.ceOverride),
    sink: parseSink("--sink", flags.sink),
  });
}

export function pingSourceManifest(name: string, flags: PingFlags) {
  checkName(name);
  if (!flags.sink) throw new CreateUsageError("--sink is required: where the PingSource sends");
  if (flags.encoding !== "text" && flags.encoding !== "base64")
    throw new CreateUsageError(`--encoding ${flags.encoding}: must be text or base64`);
  if (flags.schedule.trim().split(/\s+/).length < 5)
    throw new CreateUsageError(`--schedule ${flags.schedule}: must be a cron schedule such as "*/2 * * * *"`);
  const data =
    flags.data === undefined
      ? {}
      : flags.encoding === "base64"
        ? { dataBase64: flags.data }
        : { data: flags.data };
  return manifest("sources.knative.dev/v1", "PingSource", name, flags.namespace, {
    schedule: flags.schedule,
    ...data,
    ...parseCeOverrides(flags.ceOverride),
    sink: parseSink("--sink", flags.sink),
  });
}
