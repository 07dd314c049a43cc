/**
 * The external services the test suite needs. `test/run.ts` starts each one that is not already
 * running before the tests, exports its address through the environment, and stops what it started.
 * In CI (CI=true) a service that cannot be reached fails the run; tests never skip.
 */
export interface RunningService {
  /** Environment variables the tests read to reach the service. */
  readonly env: Record<string, string>;
  /** Stops the service if this run started it; a no-op for one that was already running. */
  stop(): Promise<void>;
}

export interface TestService {
  readonly name: string;
  start(): Promise<RunningService>;
}

export const services: TestService[] = [];
services.push((await import("./pubsub.js")).pubsubService);
services.push((await import("./rabbitmq.js")).rabbitmqService);
services.push((await import("./kafka.js")).kafkaService);
services.push((await import("./mqtt.js")).mqttService);
