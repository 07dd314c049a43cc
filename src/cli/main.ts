import { randomUUID } from "node:crypto";
import { realpathSync } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Command, CommanderError, Option } from "commander";
import { cliEnvironment, ConfigError, loadConfig } from "../config.js";
import { defaultPlugins } from "../default-plugins.js";
import { createLogger } from "../logger.js";
import { configSlicesOf, kindsOf } from "../plugins.js";
import type { Resource } from "../resources/common.js";
import { apiVersionOf, type KindDefinition } from "../resources/kinds.js";
import type { LeftAside } from "../resources/left-aside.js";
import { readManifests } from "../resources/validation.js";
import { HeraldError } from "../errors.js";
import { isRole, ROLES } from "../auth/roles.js";
import { addToken, readTokenFile, removeToken, TokenFileError } from "../auth/token-file.js";
import { ApiError, request, ServerUnreachable, type Connection } from "./client.js";
import { ConnectionError, resolveConnection } from "./connection.js";
import { describe, output, table } from "./format.js";
import { registerCreateCommand } from "./create.js";
import { registerDeadLetterCommands } from "./dlq.js";
import { registerReplayCommand } from "./replay.js";
import { processIo, type CliIo } from "./io.js";

const kinds = kindsOf(defaultPlugins);
const slices = configSlicesOf(defaultPlugins);

/** Exit codes: 0 success, 1 the server refused or failed, 2 bad usage or input, 3 server unreachable. */
const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3 } as const;

class UsageError extends Error {}

function kindArgument(name: string): KindDefinition {
  const definition = kinds.byName(name);
  if (!definition)
    throw new UsageError(`unknown kind "${name}"; try channel, subscription, imc, broker, trigger`);
  return definition;
}

function resourcePath(definition: KindDefinition, namespace: string | undefined, name?: string): string {
  const base = definition.group ? `/apis/${apiVersionOf(definition)}` : `/api/${apiVersionOf(definition)}`;
  if (definition.clusterScoped) return `${base}/${definition.plural}${name ? `/${name}` : ""}`;
  if (!namespace) return `${base}/${definition.plural}`;
  return `${base}/namespaces/${namespace}/${definition.plural}${name ? `/${name}` : ""}`;
}

/** The manifest files of a folder, sorted; with `recursive`, those of its subfolders too. */
async function manifestFiles(folder: string, recursive: boolean): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) {
      if (recursive) files.push(...(await manifestFiles(path, true)));
    } else if (/\.(ya?ml|json)$/.test(entry.name)) files.push(path);
  }
  return files;
}

async function readManifestSources(
  path: string,
  stdin: CliIo["stdin"],
  recursive = false,
): Promise<{ name: string; text: string }[]> {
  if (path === "-") {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(Buffer.from(chunk));
    return [{ name: "stdin", text: Buffer.concat(chunks).toString("utf8") }];
  }
  const info = await stat(path).catch(() => {
    throw new UsageError(`${path}: no such file or directory`);
  });
  if (!info.isDirectory()) return [{ name: path, text: await readFile(path, "utf8") }];
  const files = await manifestFiles(path, recursive);
  return Promise.all(files.map(async (name) => ({ name, text: await readFile(name, "utf8") })));
}

function program(io: CliIo): Command {
  const cli = new Command("herald")
    .description("Herald: a CloudEvents eventing broker that runs Knative Eventing's resources anywhere")
    .addOption(new Option("--server <url>", "Herald API address (env HERALD_SERVER)"))
    .addOption(new Option("--token <token>", "bearer token for the resource API (env HERALD_TOKEN)"))
    .addOption(
      new Option(
        "--context <name>",
        "a context of the config file (env HERALD_CONFIG, ~/.config/herald/config.yaml)",
      ),
    )
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: (text, write) => write(text),
    });
  let resolved: Promise<Connection> | undefined;
  const connection = () =>
    (resolved ??= resolveConnection(
      cli.opts<{ server?: string; token?: string; context?: string }>(),
      cliEnvironment(io.env),
    ));
  const tokenFileOf = (flag: string | undefined): string => {
    const path = flag ?? cliEnvironment(io.env).tokenFile;
    if (!path) throw new UsageError("name the token file with --token-file FILE or HERALD_TOKEN_FILE");
    return path;
  };

  cli
    .command("serve")
    .description("run Herald: ingress, dispatcher and resource API")
    .option("--host <host>", "interface to listen on (env HERALD_HOST)")
    .option("--port <port>", "port to listen on (env HERALD_PORT)")
    .option("--public-url <url>", "base URL used in status.address.url (env HERALD_PUBLIC_URL)")
    .option("--data-dir <dir>", "where resources are persisted (env HERALD_DATA_DIR)")
    .option("--config <dir>", "a folder of YAML manifests to load and watch (env HERALD_CONFIG_DIR)")
    .option("--log-level <level>", "trace|debug|info|warn|error (env HERALD_LOG_LEVEL)")
    .option(
      "--default-channel-kind <kind>",
      "backing kind of a Channel without channelTemplate (env HERALD_DEFAULT_CHANNEL_KIND)",
    )
    .option("--max-body-bytes <n>", "largest accepted ingress body (env HERALD_MAX_BODY_BYTES)")
    .option(
      "--allow-process-sources",
      "run ProcessSources applied through the API (env HERALD_ALLOW_PROCESS_SOURCES)",
    )
    .option("--api-port <port>", "serve the resource API on its own port (env HERALD_API_PORT)")
    .option("--api-host <host>", "interface of the API's own port, default 127.0.0.1 (env HERALD_API_HOST)")
    .option("--token-file <path>", "hashed bearer tokens: the API asks for one (env HERALD_TOKEN_FILE)")
    .option("--tls-cert <file>", "serve HTTPS with this PEM certificate (env HERALD_TLS_CERT_FILE)")
    .option("--tls-key <file>", "the certificate's PEM private key (env HERALD_TLS_KEY_FILE)")
    .option(
      "--workers <n>",
      "processes sharing the ports, or auto (one per core); default 1 (env HERALD_WORKERS)",
    )
    .action(async (flags: Record<string, string | undefined>) => {
      const config = loadConfig(
        {
          host: flags.host,
          port: flags.port,
          publicUrl: flags.publicUrl,
          dataDir: flags.dataDir,
          configDir: flags.config,
          logLevel: flags.logLevel,
          defaultChannelKind: flags.defaultChannelKind,
          maxBodyBytes: flags.maxBodyBytes,
          allowProcessSources: flags.allowProcessSources,
          apiPort: flags.apiPort,
          apiHost: flags.apiHost,
          tokenFile: flags.tokenFile,
          tls: { certFile: flags.tlsCert, keyFile: flags.tlsKey },
          workers: flags.workers,
        },
        undefined,
        slices,
      );
      const logger = createLogger(config.logLevel, slices);
      if (config.workers > 1) {
        // A primary owning the store and N worker processes on the same ports (src/cluster/).
        const { serveWorkers } = await import("../cluster/serve.js");
        const url = await serveWorkers(config, logger, defaultPlugins);
        if (url) process.stdout.write(`herald serving on ${url} with ${config.workers} workers\n`);
        return;
      }
      // Loaded for serve only: the other commands start without the control plane.
      const { createHerald } = await import("../herald.js");
      const herald = await createHerald({ config, logger, plugins: defaultPlugins });
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, "shutting down");
        herald.close().then(
          () => process.exit(0),
          (error: unknown) => {
            logger.error({ err: error }, "shutdown failed");
            process.exit(1);
          },
        );
      };
      process.on("SIGTERM", () => stop("SIGTERM"));
      process.on("SIGINT", () => stop("SIGINT"));
      process.stdout.write(`herald serving on ${herald.url}\n`);
    });

  cli
    .command("apply")
    .description(
      "create or replace resources from YAML (all or nothing); kinds Herald does not run are left aside",
    )
    .requiredOption("-f, --filename <path>", "a file, a folder of files, or - for stdin")
    .option("-R, --recursive", "with a folder, the files of its subfolders too")
    .action(async ({ filename, recursive }: { filename: string; recursive?: boolean }) => {
      const sources = await readManifestSources(filename, io.stdin, recursive);
      // Validate locally first, so problems name the file they are in.
      for (const source of sources) readManifests(kinds, source.text, source.name);
      const text = sources.map((s) => s.text).join("\n---\n");
      const result = (await request(await connection(), "POST", "/apply", {
        text,
        contentType: "application/yaml",
      })) as { items: Resource[]; leftAside?: LeftAside[] };
      for (const item of result.items)
        io.stdout.write(`${item.kind.toLowerCase()}/${item.metadata.name} applied\n`);
      for (const note of result.leftAside ?? [])
        io.stdout.write(
          `${note.kind.toLowerCase()}/${note.name ?? "(unnamed)"} left aside: ${note.reason}\n`,
        );
    });

  cli
    .command("get")
    .description("list resources of a kind, or show one")
    .argument("<kind>", "kind, plural or short name (channel, sub, imc, ...)")
    .argument("[name]")
    .option("-n, --namespace <ns>", "namespace", "default")
    .option("-A, --all-namespaces", "list across namespaces")
    .addOption(
      new Option("-o, --output <format>", "output format")
        .choices(["table", "yaml", "json"])
        .default("table"),
    )
    .action(
      async (
        kind: string,
        name: string | undefined,
        opts: { namespace: string; allNamespaces?: boolean; output: string },
      ) => {
        const definition = kindArgument(kind);
        if (name) {
          const resource = (await request(
            await connection(),
            "GET",
            resourcePath(definition, opts.namespace, name),
          )) as Resource;
          io.stdout.write(
            `${opts.output === "table" ? table([resource], false) : output(resource, opts.output)}\n`,
          );
          return;
        }
        const list = (await request(
          await connection(),
          "GET",
          resourcePath(definition, opts.allNamespaces ? undefined : opts.namespace),
        )) as {
          items: Resource[];
        };
        if (opts.output !== "table") io.stdout.write(`${output(list, opts.output)}\n`);
        else if (list.items.length === 0) io.stdout.write(`No ${definition.plural} found.\n`);
        else io.stdout.write(`${table(list.items, Boolean(opts.allNamespaces))}\n`);
      },
    );

  cli
    .command("describe")
    .description("show a resource's spec, status and conditions")
    .argument("<kind>")
    .argument("<name>")
    .option("-n, --namespace <ns>", "namespace", "default")
    .action(async (kind: string, name: string, opts: { namespace: string }) => {
      const resource = (await request(
        await connection(),
        "GET",
        resourcePath(kindArgument(kind), opts.namespace, name),
      )) as Resource;
      io.stdout.write(`${describe(resource)}\n`);
    });

  cli
    .command("delete")
    .description("delete a resource")
    .argument("<kind>")
    .argument("<name>")
    .option("-n, --namespace <ns>", "namespace", "default")
    .action(async (kind: string, name: string, opts: { namespace: string }) => {
      const definition = kindArgument(kind);
      await request(await connection(), "DELETE", resourcePath(definition, opts.namespace, name));
      io.stdout.write(`${definition.kind.toLowerCase()}/${name} deleted\n`);
    });

  cli
    .command("send")
    .description("post a CloudEvent (binary mode) to a channel or broker")
    .argument("<name>", "channel (or broker, with --broker) name")
    .option("-n, --namespace <ns>", "namespace", "default")
    .option("--broker", "send to a Broker instead of a Channel")
    .requiredOption("--type <type>", "the event's type attribute")
    .option("--source <source>", "the event's source attribute", "herald-cli")
    .option("--id <id>", "the event's id (default: a random UUID)")
    .option("--subject <subject>", "the event's subject attribute")
    .option("--data <data>", "event data")
    .option("--content-type <type>", "datacontenttype of the data", "application/json")
    .option(
      "--extension <key=value>",
      "an extension attribute (repeatable)",
      (v: string, all: string[]) => [...all, v],
      [] as string[],
    )
    .action(async (name: string, opts: Record<string, string | string[] | boolean | undefined>) => {
      const headers: Record<string, string> = {
        "ce-specversion": "1.0",
        "ce-id": (opts.id as string | undefined) ?? randomUUID(),
        "ce-source": opts.source as string,
        "ce-type": opts.type as string,
      };
      if (opts.subject) headers["ce-subject"] = opts.subject as string;
      for (const extension of opts.extension as string[]) {
        const at = extension.indexOf("=");
        if (at <= 0) throw new UsageError(`--extension ${extension}: expected key=value`);
        headers[`ce-${extension.slice(0, at).toLowerCase()}`] = encodeURIComponent(extension.slice(at + 1));
      }
      if (opts.data !== undefined) headers["content-type"] = opts.contentType as string;
      // The channel's or broker's address, as Herald reports it: ingress may listen apart from the API.
      const definition = opts.broker ? kinds.byName("broker")! : kinds.byName("channel")!;
      const target = (await request(
        await connection(),
        "GET",
        resourcePath(definition, opts.namespace as string, name),
      )) as Resource;
      const address = target.status?.address?.url;
      if (!address)
        throw new UsageError(
          `${definition.kind} ${opts.namespace as string}/${name} has no address yet (not Ready: herald describe ${definition.plural} ${name})`,
        );
      let response: Response;
      try {
        response = await fetch(address, {
          method: "POST",
          headers,
          body: opts.data as string | undefined,
        });
      } catch (error) {
        throw new ServerUnreachable(
          `cannot reach Herald's ingress at ${address}: ${(error as Error).message}`,
        );
      }
      const text = await response.text();
      if (response.status !== 202)
        throw new ApiError(response.status, text ? (JSON.parse(text) as ApiError["body"]) : {});
      io.stdout.write(`event ${headers["ce-id"]} accepted (202)\n`);
    });

  registerReplayCommand(cli, connection, io.stdout);
  registerDeadLetterCommands(cli, connection, io.stdout);
  registerCreateCommand(cli, connection, io.stdout);
  const token = cli.command("token").description("manage the resource API's bearer tokens (the token file)");
  token
    .command("create")
    .description("add a token with a role to the token file and print it, the only time it is shown")
    .argument("<name>", "the token's name (who or what uses it)")
    .requiredOption("--role <role>", `${ROLES.join(", ")}`)
    .option("--token-file <path>", "the token file (env HERALD_TOKEN_FILE); created when missing")
    .action(async (name: string, opts: { role: string; tokenFile?: string }) => {
      if (!isRole(opts.role)) throw new UsageError(`--role ${opts.role}: must be one of ${ROLES.join(", ")}`);
      const path = tokenFileOf(opts.tokenFile);
      const created = await addToken(path, name, opts.role);
      io.stdout.write(`${created}\n`);
      io.stderr.write(
        `token ${name} (role ${opts.role}) added to ${path}: only its hash is stored, so keep it now ` +
          "(HERALD_TOKEN, --token, or a context in ~/.config/herald/config.yaml)\n",
      );
    });
  token
    .command("list")
    .description("list the token file's tokens: names and roles")
    .option("--token-file <path>", "the token file (env HERALD_TOKEN_FILE)")
    .action(async (opts: { tokenFile?: string }) => {
      const entries = await readTokenFile(tokenFileOf(opts.tokenFile));
      const width = Math.max(4, ...entries.map((entry) => entry.name.length));
      io.stdout.write(
        `${["NAME".padEnd(width), "ROLE"].join("   ")}\n${entries.map((entry) => `${entry.name.padEnd(width)}   ${entry.role}\n`).join("")}`,
      );
    });
  token
    .command("delete")
    .description("remove a token from the token file (a running Herald refuses it within a second)")
    .argument("<name>")
    .option("--token-file <path>", "the token file (env HERALD_TOKEN_FILE)")
    .action(async (name: string, opts: { tokenFile?: string }) => {
      const path = tokenFileOf(opts.tokenFile);
      if (!(await removeToken(path, name))) throw new UsageError(`${path} has no token named ${name}`);
      io.stdout.write(`token ${name} deleted\n`);
    });
  return cli;
}

/**
 * Runs one `herald` command line (`args` without node and the script), reading and writing only
 * through `io`, and resolves with its exit code: tests run the CLI in their own process this way.
 * `serve` is the exception: it starts Herald in this process and keeps it running.
 */
export async function main(args: readonly string[], io: CliIo = processIo): Promise<number> {
  try {
    await program(io).parseAsync(args, { from: "user" });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (
      error instanceof UsageError ||
      error instanceof ConfigError ||
      error instanceof TokenFileError ||
      error instanceof ConnectionError
    ) {
      io.stderr.write(`error: ${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof HeraldError && error.code === "InvalidResource") {
      const problems =
        (error.details as { problems?: { path: string; message: string }[] } | undefined)?.problems ?? [];
      io.stderr.write(
        `error: invalid manifest\n${problems.map((p) => `  ${p.path}: ${p.message}`).join("\n")}\n`,
      );
      return EXIT.usage;
    }
    if (error instanceof ServerUnreachable) {
      io.stderr.write(`error: ${error.message}\n`);
      return EXIT.unreachable;
    }
    if (error instanceof ApiError) {
      const problems = error.body.details?.problems ?? [];
      io.stderr.write(
        `error: ${error.body.message ?? `HTTP ${error.status}`} (HTTP ${error.status})\n${problems.map((p) => `  ${p.path}: ${p.message}\n`).join("")}`,
      );
      return EXIT.refused;
    }
    io.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT.refused;
  }
}

/** The command line of this process: `tsx src/cli/main.ts ...`, or bin/herald.js. */
export async function runProcess(): Promise<void> {
  const code = await main(process.argv.slice(2));
  // `serve` keeps running; every other command exits with its code.
  if (process.argv[2] !== "serve" || code !== EXIT.ok) process.exitCode = code;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href)
  await runProcess();
