import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config.js";
import { defaultPlugins } from "../../src/default-plugins.js";
import { createHerald, type Herald } from "../../src/herald.js";
import { createLogger } from "../../src/logger.js";
import { configSlicesOf, type HeraldPlugins } from "../../src/plugins.js";
import { heraldCommand } from "./entry.js";
import { eventually } from "./eventually.js";

/** A free TCP port on loopback (the port is released before it is returned). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** The resource API and ingress addresses of a running Herald, in a test process or in this one. */
export abstract class HeraldClient {
  abstract get url(): string;
  /** A bearer token sent to the resource API, when the Herald asks for one. */
  token: string | undefined;

  /** Where the resource API answers (the main port unless the API has its own). */
  get apiUrl(): string {
    return this.url;
  }

  /** The Authorization header for `token`, to spread into a request's headers. */
  authorization(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  channelUrl(name: string, namespace = "default"): string {
    return `${this.url}/channels/${namespace}/${name}`;
  }

  /** Applies YAML through the resource API; resolves with the applied resources (with status). */
  async apply(
    yaml: string,
  ): Promise<Array<{ kind: string; metadata: { name: string }; status: Record<string, unknown> }>> {
    const response = await fetch(`${this.apiUrl}/apply`, {
      method: "POST",
      headers: { "content-type": "application/yaml", ...this.authorization() },
      body: yaml,
    });
    const body = (await response.json()) as { items?: never[]; message?: string };
    if (response.status !== 200)
      throw new Error(`apply failed (${response.status}): ${JSON.stringify(body)}`);
    return body.items ?? [];
  }

  /** Applies YAML that must be refused: asserts the 422 and resolves with the error body's text. */
  async applyRejected(yaml: string): Promise<string> {
    const response = await fetch(`${this.apiUrl}/apply`, {
      method: "POST",
      headers: { "content-type": "application/yaml", ...this.authorization() },
      body: yaml,
    });
    const text = await response.text();
    if (response.status !== 422) throw new Error(`expected 422 from apply, got ${response.status}: ${text}`);
    return text;
  }

  /** DELETEs a resource by its API path; resolves with the HTTP status. */
  async delete(path: string): Promise<number> {
    const response = await fetch(`${this.apiUrl}${path}`, {
      method: "DELETE",
      headers: this.authorization(),
    });
    await response.body?.cancel();
    return response.status;
  }

  /** GETs an API path and returns the parsed JSON body and status. */
  async get<T = Record<string, unknown>>(path: string): Promise<{ status: number; body: T }> {
    const response = await fetch(`${this.apiUrl}${path}`, { headers: this.authorization() });
    return { status: response.status, body: (await response.json()) as T };
  }
}

export interface InProcessOptions {
  /** Settings shaped like the configuration (`{ maxBodyBytes: 2048 }`), over `env`. */
  config?: Record<string, unknown>;
  /** Environment variables as Herald reads them (`HERALD_MEMORY_CAPACITY`...). */
  env?: Record<string, string>;
  dataDir?: string;
  /** The plug-ins to run (default: the ones Herald ships). */
  plugins?: HeraldPlugins;
}

/**
 * A Herald in this test process (`createHerald`) on port 0: no process start, and several can run
 * side by side. Crash and outage tests use `HeraldProcess` instead.
 */
export class InProcessHerald extends HeraldClient {
  private constructor(
    readonly herald: Herald,
    readonly dataDir: string,
    private readonly ownsDataDir: boolean,
  ) {
    super();
  }

  static async start(options: InProcessOptions = {}): Promise<InProcessHerald> {
    const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "herald-test-")));
    const plugins = options.plugins ?? defaultPlugins;
    const slices = configSlicesOf(plugins);
    const config = loadConfig(
      { port: 0, logLevel: "warn", ...options.config, dataDir },
      { ...options.env },
      slices,
    );
    const logger = createLogger(config.logLevel, slices);
    const herald = await createHerald({ config, logger, plugins, resyncMs: 1_000 });
    return new InProcessHerald(herald, dataDir, !options.dataDir);
  }

  get url(): string {
    return this.herald.url;
  }

  override get apiUrl(): string {
    return this.herald.apiUrl;
  }

  async close(): Promise<void> {
    await this.herald.close();
    if (this.ownsDataDir) await rm(this.dataDir, { recursive: true, force: true });
  }
}

export interface HeraldOptions {
  /** Extra `herald serve` flags. */
  args?: string[];
  /** Extra environment variables (backend addresses, settings). */
  env?: Record<string, string>;
  dataDir?: string;
  port?: number;
  /** Serve the resource API on its own loopback port (`--api-port`), apart from ingress. */
  apiPort?: number;
}

/**
 * A real Herald process (`herald serve`) on a free loopback port, for black-box tests.
 * `kill()` sends SIGKILL (a crash); `start()` again reuses the same port and data directory.
 */
export class HeraldProcess extends HeraldClient {
  child: ChildProcess | undefined;
  output = "";
  private constructor(
    readonly port: number,
    readonly dataDir: string,
    private readonly options: HeraldOptions,
    private readonly ownsDataDir: boolean,
  ) {
    super();
  }

  static async start(options: HeraldOptions = {}): Promise<HeraldProcess> {
    const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "herald-test-")));
    const herald = new HeraldProcess(options.port ?? (await freePort()), dataDir, options, !options.dataDir);
    await herald.start();
    return herald;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  override get apiUrl(): string {
    return this.options.apiPort ? `http://127.0.0.1:${this.options.apiPort}` : this.url;
  }

  async start(): Promise<void> {
    const child = spawn(
      process.execPath,
      heraldCommand(
        "serve",
        "--port",
        String(this.port),
        "--data-dir",
        this.dataDir,
        ...(this.options.apiPort ? ["--api-port", String(this.options.apiPort)] : []),
        ...(this.options.args ?? []),
      ),
      {
        env: { ...process.env, HERALD_LOG_LEVEL: "warn", ...this.options.env },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    this.child = child;
    child.stdout.on("data", (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (this.output += chunk.toString()));
    const exited = new Promise<never>((_, reject) =>
      child.once("exit", (code) =>
        reject(new Error(`herald exited with ${code} during start:\n${this.output}`)),
      ),
    );
    await Promise.race([
      exited,
      eventually(
        async () => {
          const response = await fetch(`${this.url}/readyz`);
          return response.status === 200;
        },
        { timeoutMs: 30_000, intervalMs: 100, message: "herald to be ready" },
      ),
    ]);
    exited.catch(() => undefined);
  }

  /** Graceful stop (SIGTERM), waiting for the process to exit. */
  async stop(): Promise<number | null> {
    return this.signal("SIGTERM");
  }

  /** A crash: SIGKILL, no chance to clean up. */
  async kill(): Promise<void> {
    await this.signal("SIGKILL");
  }

  private async signal(signal: NodeJS.Signals): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill(signal);
    const code = await exited;
    this.child = undefined;
    return code;
  }

  async close(): Promise<void> {
    await this.stop();
    if (this.ownsDataDir) await rm(this.dataDir, { recursive: true, force: true });
  }
}

/** POSTs one event in binary mode; resolves with the HTTP status. */
export async function postEvent(
  url: string,
  event: {
    id?: string;
    type?: string;
    source?: string;
    data?: string;
    extensions?: Record<string, string>;
  } = {},
): Promise<number> {
  const headers: Record<string, string> = {
    "ce-specversion": "1.0",
    "ce-id": event.id ?? crypto.randomUUID(),
    "ce-type": event.type ?? "dev.herald.test",
    "ce-source": event.source ?? "/test",
    "content-type": "application/json",
  };
  for (const [key, value] of Object.entries(event.extensions ?? {})) headers[`ce-${key}`] = value;
  const response = await fetch(url, {
    method: "POST",
    headers,
    body: event.data ?? JSON.stringify({ n: 1 }),
  });
  await response.arrayBuffer();
  return response.status;
}
