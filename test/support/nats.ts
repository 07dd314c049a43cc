import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually } from "./eventually.js";
import type { RunningService, TestService } from "./services.js";

/**
 * NATS with JetStream. `natsService` reuses a server answering at NATS_URL (or 127.0.0.1:4222) when
 * it has JetStream, else starts the installed `nats-server` on a free port with a temporary store.
 * `startNatsServer` gives a test a server of its own that it may stop and restart.
 */
export const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";

const HOST = "127.0.0.1";
const START_TIMEOUT_MS = 30_000;

function serverBinary(): string {
  if (process.env.NATS_SERVER_BIN) return process.env.NATS_SERVER_BIN;
  // Debian installs it in /usr/sbin, which is not on every user's PATH; otherwise PATH decides.
  return existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "nats-server";
}

/** The fields of the INFO a NATS server sends first (NATS client protocol, "INFO") that tests use. */
export interface NatsServerInfo {
  readonly version?: string;
  readonly jetstream?: boolean;
}

/**
 * Connects over TCP and reads the `INFO {...}` line a NATS server sends before anything else;
 * undefined when nothing answers like NATS within two seconds. Needs no client library.
 */
export async function readNatsInfo(url = NATS_URL): Promise<NatsServerInfo | undefined> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || 4222) });
    let received = "";
    const finish = (info: NatsServerInfo | undefined) => {
      socket.destroy();
      resolve(info);
    };
    socket.setTimeout(2_000, () => finish(undefined));
    socket.on("error", () => finish(undefined));
    socket.on("close", () => finish(undefined));
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("utf8");
      const end = received.indexOf("\r\n");
      if (end === -1) return;
      const line = received.slice(0, end);
      try {
        finish(line.startsWith("INFO ") ? (JSON.parse(line.slice(5)) as NatsServerInfo) : undefined);
      } catch {
        finish(undefined);
      }
    });
  });
}

/** True when a NATS server answers at `url` with JetStream enabled. */
export async function isJetStreamReady(url = NATS_URL): Promise<boolean> {
  return (await readNatsInfo(url))?.jetstream === true;
}

export interface NatsServer {
  /** nats://127.0.0.1:PORT, the value of NATS_URL. */
  readonly url: string;
  /** Stops the server; its JetStream store stays, for `restart`. */
  stop(): Promise<void>;
  /** Starts it again on the same port and store (streams survive, as on a real restart). */
  restart(): Promise<void>;
  /** Stops the server and deletes its store. */
  destroy(): Promise<void>;
}

export async function startNatsServer(): Promise<NatsServer> {
  const storeDir = await mkdtemp(join(tmpdir(), "herald-nats-"));
  let port: number | undefined;
  let child: ChildProcess | undefined;

  const launch = async () => {
    const output: string[] = [];
    // -p -1 lets the server pick a free port itself (no race with another process); it logs the port.
    const started = spawn(serverBinary(), ["-js", "-a", HOST, "-p", String(port ?? -1), "-sd", storeDir], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = started;
    const keep = (chunk: Buffer) => {
      output.push(chunk.toString());
      if (output.length > 50) output.shift();
    };
    started.stdout?.on("data", keep);
    started.stderr?.on("data", keep);
    // An exit (or a missing binary) ends the wait at once instead of at the deadline.
    let hasEnded = false;
    const ended = new Promise<never>((_, reject) => {
      started.once("error", (error) => {
        hasEnded = true;
        reject(error);
      });
      started.once("exit", (code, signal) => {
        hasEnded = true;
        reject(new Error(`nats-server exited (${signal ?? code}):\n${output.join("")}`));
      });
    });
    ended.catch(() => {});
    try {
      await Promise.race([
        ended,
        eventually(
          async () => {
            if (hasEnded) return true; // `ended` has already rejected: stop polling.
            port ??= Number(/client connections on [^\s]*:(\d+)/.exec(output.join(""))?.[1]) || undefined;
            return port !== undefined && (await isJetStreamReady(`nats://${HOST}:${port}`));
          },
          { timeoutMs: START_TIMEOUT_MS, intervalMs: 100, message: "nats-server with JetStream to answer" },
        ),
      ]);
    } catch (error) {
      await kill();
      throw new Error(
        `NATS could not be started with ${serverBinary()} (install nats-server, or set NATS_SERVER_BIN ` +
          `or NATS_URL): ${(error as Error).message}`,
        { cause: error },
      );
    }
    // Keep reading its output so a full pipe never blocks it, without keeping this process alive.
    started.stdout?.removeListener("data", keep).resume();
    started.stderr?.removeListener("data", keep).resume();
    started.unref();
    (started.stdout as { unref?: () => void } | null)?.unref?.();
    (started.stderr as { unref?: () => void } | null)?.unref?.();
  };

  const kill = async () => {
    const running = child;
    child = undefined;
    if (!running?.pid || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once("exit", () => resolve()));
    running.kill("SIGTERM");
    const timer = setTimeout(() => running.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await launch();
  } catch (error) {
    await rm(storeDir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `nats://${HOST}:${port}`,
    stop: kill,
    restart: launch,
    destroy: async () => {
      await kill();
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}

export const natsService: TestService = {
  name: "nats",
  async start(): Promise<RunningService> {
    const env = (url: string) => ({ NATS_URL: url, HERALD_NATS_URL: url });
    if (await isJetStreamReady(NATS_URL)) return { env: env(NATS_URL), stop: async () => {} };
    const server = await startNatsServer();
    return { env: env(server.url), stop: () => server.destroy() };
  },
};
