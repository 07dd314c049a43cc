import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { connectAsync } from "mqtt";
import { eventually } from "./eventually.js";
import type { RunningService, TestService } from "./services.js";

const run = promisify(execFile);

export const MQTT_URL = process.env.MQTT_URL ?? "mqtt://127.0.0.1:1883";

export async function isMqttReady(url = MQTT_URL): Promise<boolean> {
  try {
    const client = await connectAsync(url, { connectTimeout: 1_000, reconnectPeriod: 0 });
    await client.endAsync();
    return true;
  } catch {
    return false;
  }
}

/**
 * The machine's Mosquitto (127.0.0.1:1883 unless MQTT_URL says otherwise), started with its
 * packaged configuration when it is installed but not running; unreachable, it fails the run.
 */
export const mqttService: TestService = {
  name: "mqtt",
  async start(): Promise<RunningService> {
    const env = { MQTT_URL };
    if (await isMqttReady()) return { env, stop: async () => {} };
    try {
      await run("mosquitto", ["-d", "-c", "/etc/mosquitto/mosquitto.conf"]);
    } catch (error) {
      throw new Error(
        `MQTT is not reachable at ${MQTT_URL} and Mosquitto could not be started: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    await eventually(() => isMqttReady(), {
      timeoutMs: 30_000,
      intervalMs: 500,
      message: "Mosquitto to accept connections",
    });
    return { env, stop: async () => {} };
  },
};
