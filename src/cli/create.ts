import { type Command } from "commander";
import { stringify } from "yaml";
import { request, type Connection } from "./client.js";
import type { Output } from "./io.js";

/**
 * `herald create trigger|subscription|channel|broker|source ping NAME ...`: the one-line equivalents
 * of `kn trigger create`, `kn subscription create`, `kn channel create`, `kn broker create` and
 * `kn source ping create`. Each builds the Knative manifest from its flags, checks the flags before
 * anything is sent (a bad one is a usage error naming it, exit 2), and applies it.
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

function manifest(
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

const collect = (value: string, previous: string[]) => [...previous, value];

/** Registers `herald create ...`. */
export function registerCreateCommand(
  cli: Command,
  connection: () => Promise<Connection>,
  stdout: Output,
): void {
  const apply = async (command: Command, build: () => ReturnType<typeof manifest>) => {
    let built: ReturnType<typeof manifest>;
    try {
      built = build();
    } catch (error) {
      if (error instanceof CreateUsageError) command.error(`error: ${error.message}`, { exitCode: 2 });
      throw error;
    }
    await request(await connection(), "POST", "/apply", {
      text: stringify(built),
      contentType: "application/yaml",
    });
    stdout.write(
      `${built.kind.toLowerCase()}/${built.metadata.name} created in namespace ${built.metadata.namespace}\n`,
    );
  };
  const create = cli
    .command("create")
    .description("create a Trigger, Subscription, Channel, Broker or source, as kn does");

  const trigger = create
    .command("trigger")
    .description("create a Trigger (kn trigger create)")
    .argument("<name>")
    .option("--broker <name>", "the Broker", "default")
    .option("--filter <attribute=value>", "an exact attribute filter; repeat for more", collect, [])
    .option("-s, --sink <sink>", "ksvc:NAME, svc:NAME, broker:NAME, channel:NAME or a URL")
    .option("-n, --namespace <ns>", "namespace", "default")
    .action((name: string, flags: TriggerFlags) => apply(trigger, () => triggerManifest(name, flags)));

  const subscription = create
    .command("subscription")
    .alias("sub")
    .description("create a Subscription (kn subscription create)")
    .argument("<name>")
    .option("--channel <channel>", "NAME (a Channel), imc:NAME, kafka:NAME or group:version:Kind:NAME")
    .option("-s, --sink <sink>", "the subscriber: ksvc:NAME, svc:NAME, broker:NAME, channel:NAME or a URL")
    .option("--sink-reply <sink>", "where the subscriber's replies go")
    .option("--sink-dead-letter <sink>", "where events that could not be delivered go")
    .option("-n, --namespace <ns>", "namespace", "default")
    .action((name: string, flags: SubscriptionFlags) =>
      apply(subscription, () => subscriptionManifest(name, flags)),
    );

  const channel = create
    .command("channel")
    .description("create a Channel (kn channel create)")
    .argument("<name>")
    .option("--type <type>", "imc, kafka or group:version:Kind; default: Herald's default channel kind")
    .option("-n, --namespace <ns>", "namespace", "default")
    .action((name: string, flags: { type?: string; namespace: string }) =>
      apply(channel, () => channelManifest(name, flags)),
    );

  const broker = create
    .command("broker")
    .description("create a Broker (kn broker create)")
    .argument("<name>")
    .option("--class <class>", "the broker class (Kafka, RabbitMQBroker, ...)")
    .option("--dl-sink <sink>", "the dead-letter sink of its Triggers")
    .option("-n, --namespace <ns>", "namespace", "default")
    .action((name: string, flags: { class?: string; dlSink?: string; namespace: string }) =>
      apply(broker, () => brokerManifest(name, flags)),
    );

  const source = create.command("source").description("create a source (kn source ... create)");
  const ping = source
    .command("ping")
    .description("create a PingSource (kn source ping create)")
    .argument("<name>")
    .option("--schedule <cron>", "cron schedule", "* * * * *")
    .option("-d, --data <data>", "the event's data")
    .option("-e, --encoding <encoding>", "text, or base64 for binary data", "text")
    .option("-s, --sink <sink>", "ksvc:NAME, svc:NAME, broker:NAME, channel:NAME or a URL")
    .option("-n, --namespace <ns>", "namespace", "default")
    .option(
      "--ce-override <key=value>",
      "a CloudEvents extension added to every event; repeat for more",
      collect,
      [],
    )
    .action((name: string, flags: PingFlags) => apply(ping, () => pingSourceManifest(name, flags)));

  const apiserver = source
    .command("apiserver")
    .description("create an ApiServerSource over Herald's resources (kn source apiserver create)")
    .argument("<name>")
    .option("--resource <Kind:apiVersion[:label=value]>", "a kind to watch; repeat for more", collect, [])
    .option("--mode <mode>", "Reference (a reference as data) or Resource (the whole resource)", "Reference")
    .option("--service-account <name>", "kept as serviceAccountName")
    .option("-s, --sink <sink>", "ksvc:NAME, svc:NAME, broker:NAME, channel:NAME or a URL")
    .option(
      "--ce-override <key=value>",
      "a CloudEvents extension added to every event; repeat for more",
      collect,
      [],
    )
    .option("-n, --namespace <ns>", "namespace", "default")
    .action((name: string, flags: ApiServerFlags) =>
      apply(apiserver, () => apiServerSourceManifest(name, flags)),
    );
}
