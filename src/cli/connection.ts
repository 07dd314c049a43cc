import { readFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import { z } from "zod";
import type { cliEnvironment } from "../config.js";
import { problemsFromZod } from "../resources/validation.js";
import type { Connection } from "./client.js";

/**
 * The CLI's config file, shaped like a small kubeconfig: contexts of a server and a token, one of
 * them current.
 *
 *   current-context: local
 *   contexts:
 *     - name: local
 *       server: http://127.0.0.1:8080
 *       token: hrld_…
 */
const configFileSchema = z.strictObject({
  "current-context": z.string().optional(),
  contexts: z
    .array(
      z.strictObject({
        name: z.string({ error: "is required" }).min(1, "is required"),
        server: z.url().optional(),
        token: z.string().min(1).optional(),
      }),
    )
    .default([]),
});

export class ConnectionError extends Error {}

const DEFAULT_SERVER = "http://127.0.0.1:8080";

async function readConfigFile(
  path: string,
  named: boolean,
): Promise<z.output<typeof configFileSchema> | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT" && !named) return undefined;
    throw new ConnectionError(`config file ${path}: ${(error as Error).message}`);
  }
  const document = parseDocument(text);
  if (document.errors.length > 0)
    throw new ConnectionError(`config file ${path}: not valid YAML: ${document.errors[0]!.message}`);
  const parsed = configFileSchema.safeParse(document.toJS() ?? {});
  if (!parsed.success)
    throw new ConnectionError(
      `config file ${path}: ${problemsFromZod(parsed.error)
        .map((p) => (p.path ? `${p.path}: ${p.message}` : p.message))
        .join("; ")}`,
    );
  return parsed.data;
}

/**
 * The server and token of a CLI command, each from (first found) its flag (--server, --token), its
 * variable (HERALD_SERVER, HERALD_TOKEN), then the context of the config file (--context, else
 * its current-context); the server defaults to the default port on loopback.
 */
export async function resolveConnection(
  flags: { server?: string | undefined; token?: string | undefined; context?: string | undefined },
  env: ReturnType<typeof cliEnvironment>,
): Promise<Connection> {
  const file = await readConfigFile(env.configFile, env.configFileNamed);
  const wanted = flags.context ?? file?.["current-context"];
  const context = wanted === undefined ? undefined : file?.contexts.find((entry) => entry.name === wanted);
  if (wanted !== undefined && !context)
    throw new ConnectionError(
      file
        ? `config file ${env.configFile} has no context named ${wanted}`
        : `no config file at ${env.configFile} for the context ${wanted}`,
    );
  const server = flags.server ?? env.server ?? context?.server ?? DEFAULT_SERVER;
  return { server: server.replace(/\/$/, ""), token: flags.token ?? env.token ?? context?.token };
}
