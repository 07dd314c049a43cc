import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";
import { eventually } from "./eventually.js";
import type { RunningService, TestService } from "./services.js";

/**
 * Google's Pub/Sub emulator (Java; it keeps nothing across restarts). `pubsubService` reuses one
 * answering at PUBSUB_EMULATOR_HOST, else starts one on PUBSUB_EMULATOR_PORT or a free port.
 * `startPubSubEmulator` gives a test an emulator of its own that it may stop and restart.
 */
const LAUNCHER =
  process.env.PUBSUB_EMULATOR_BIN ??
  "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator";
const HOST = "127.0.0.1";
const START_TIMEOUT_MS = 120_000;

/** True when an emulator answers "Ok" on GET / (what it says once it is ready). */
export async function isEmulatorReady(hostPort: string): Promise<boolean> {
  try {
    const response = await fetch(`http://${hostPort}/`, { signal: AbortSignal.timeout(2_000) });
    return response.ok && (await response.text()).trim() === "Ok";
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface PubSubEmulator {
  /** host:port, the value of PUBSUB_EMULATOR_HOST. */
  readonly host: string;
  /** Stops the emulator (its whole process group: the launcher script runs java). */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty, and waits until it answers. */
  restart(): Promise<void>;
}

export async function startPubSubEmulator(port?: number): Promise<PubSubEmulator> {
  const chosen = port ?? (await freePort());
  const host = `${HOST}:${chosen}`;
  let child: ChildProcess | undefined;

  const launch = async () => {
    const output: string[] = [];
    const started = spawn(LAUNCHER, [`--host=${HOST}`, `--port=${chosen}`], {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const keep = (chunk: Buffer) => {
      output.push(chunk.toString());
      if (output.length > 50) output.shift();
    };
    started.stdout?.on("data", keep);
    started.stderr?.on("data", keep);
    child = started;
    let exited = false;
    started.once("exit", () => (exited = true));
    try {
      await eventually(
        async () => {
          if (exited) throw new Error(`emulator exited:\n${output.join("")}`);
          return isEmulatorReady(host);
        },
        { timeoutMs: START_TIMEOUT_MS, intervalMs: 250, message: `Pub/Sub emulator on ${host}` },
      );
    } catch (error) {
      await kill();
      throw error;
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
    const signal = (name: NodeJS.Signals) => {
      try {
        process.kill(-running.pid!, name);
      } catch {
        // already gone
      }
    };
    signal("SIGTERM");
    const timer = setTimeout(() => signal("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
    // The port is free once nothing answers any more.
    await eventually(async () => !(await isEmulatorReady(host)), {
      timeoutMs: 20_000,
      message: "emulator to stop",
    });
  };

  await launch();
  return { host, stop: kill, restart: launch };
}

export const pubsubService: TestService = {
  name: "pubsub",
  async start(): Promise<RunningService> {
    const configured = process.env.PUBSUB_EMULATOR_HOST;
    if (configured && (await isEmulatorReady(configured))) {
      return { env: { PUBSUB_EMULATOR_HOST: configured }, stop: async () => {} };
    }
    const configuredPort = process.env.PUBSUB_EMULATOR_PORT ?? configured?.split(":").pop();
    const port = configuredPort ? Number(configuredPort) : undefined;
    const emulator = await startPubSubEmulator(port);
    return { env: { PUBSUB_EMULATOR_HOST: emulator.host }, stop: () => emulator.stop() };
  },
};
