import { Redis } from "ioredis";
import type { RunningService, TestService } from "./services.js";

export const REDIS_ADDRESS = process.env.REDIS_ADDRESS ?? "127.0.0.1:6379";

export async function isRedisReady(address = REDIS_ADDRESS): Promise<boolean> {
  const client = new Redis(`redis://${address}`, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on("error", () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** The machine's Redis (127.0.0.1:6379 unless REDIS_ADDRESS says otherwise); unreachable, it fails the run. */
export const redisService: TestService = {
  name: "redis",
  async start(): Promise<RunningService> {
    if (!(await isRedisReady())) throw new Error(`Redis is not reachable at ${REDIS_ADDRESS}`);
    return { env: { REDIS_ADDRESS }, stop: async () => {} };
  },
};
