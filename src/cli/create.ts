import { type Command } from "commander";
import { stringify } from "yaml";
import { request, type Connection } from "./client.js";
import type { Output } from "./io.js";
import {
  apiServerSourceManifest,
  brokerManifest,
  channelManifest,
  CreateUsageError,
  pingSourceManifest,
  subscriptionManifest,
  triggerManifest,
  type ApiServerFlags,
  type manifest,
  type PingFlags,
  type SubscriptionFlags,
  type TriggerFlags,
} from "./create-manifests.js";

/**
 * `herald create trigger|subscription|channel|broker|source ping NAME ...`: the one-line equivalents
 * of `kn trigger create`, `kn subscription create`, `kn channel create`, `kn broker create` and
 * `kn source ping create`. Each builds the Knative manifest from its flags, checks the flags before
 * anything is sent (a bad one is a usage error naming it, exit 2), and applies it.
 *
 * Sinks are written as kn writes them: `ksvc:NAME` (a Knative Service), `svc:NAME` (a Service),
 * `broker:NAME`, `channel:NAME`, or an http(s) URL.
 */

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
