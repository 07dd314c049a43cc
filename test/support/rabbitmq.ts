import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { connect } from "amqplib";
import { eventually } from "./eventually.js";
import type { RunningService, TestService } from "./services.js";

const run = promisify(execFile);

export const RABBITMQ_URL = process.env.HERALD_RABBITMQ_URL ?? "amqp://guest:guest@127.0.0.1:5672";

export async function isRabbitmqReady(url = RABBITMQ_URL): Promise<boolean> {
  try {
    const connection = await connect(url, { timeout: 2_000 });
    await connection.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Closes Herald's RabbitMQ connections (client property connection_name = "herald") from the
 * server side, as an operator or a network failure would; other clients' connections stay.
 */
export async function closeHeraldConnections(): Promise<number> {
  const { stdout } = await run("rabbitmqctl", [
    "list_connections",
    "-q",
    "--no-table-headers",
    "pid",
    "client_properties",
  ]);
  const pids = stdout
    .split("\n")
    .filter((line) => /connection_name[^\]]*herald/.test(line))
    .map((line) => line.split(/\s+/)[0]!)
    .filter(Boolean);
  for (const pid of pids) await run("rabbitmqctl", ["close_connection", pid, "closed by a Herald test"]);
  return pids.length;
}

/**
 * The machine's RabbitMQ (127.0.0.1:5672 unless HERALD_RABBITMQ_URL says otherwise). Started with
 * `rabbitmq-server -detached` when it is installed but not running; with CI=true an unreachable
 * RabbitMQ fails the run. A server this run started is left running: it is the machine's service.
 */
export const rabbitmqService: TestService = {
  name: "rabbitmq",
  async start(): Promise<RunningService> {
    const env = { HERALD_RABBITMQ_URL: RABBITMQ_URL };
    if (await isRabbitmqReady()) return { env, stop: async () => {} };
    try {
      await run("rabbitmq-server", ["-detached"]);
    } catch (error) {
      throw new Error(
        `RabbitMQ is not reachable at 127.0.0.1:5672 and could not be started: ${(error as Error).message}`,
        { cause: error },
      );
    }
    await eventually(() => isRabbitmqReady(), {
      timeoutMs: 90_000,
      intervalMs: 1_000,
      message: "RabbitMQ to accept connections",
    });
    return { env, stop: async () => {} };
  },
};
