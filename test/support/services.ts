/**
 * The external services integration tests need. A test file names the ones it uses in a header
 * comment on its first lines, `// needs: kafka, rabbitmq`; a file without one needs none.
 * `test/run.ts` starts each needed service that is not already running before the tests, exports its
 * address through the environment, and stops what it started. A service that cannot be reached
 * fails the run (always, and so in CI with CI=true); tests never skip.
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

/**
 * Every service a `// needs:` header may name. Each module is imported only when a selected file
 * needs it, so a run without integration files loads no client library and starts nothing.
 */
export const services = {
  kafka: async () => (await import("./kafka.js")).kafkaService,
  rabbitmq: async () => (await import("./rabbitmq.js")).rabbitmqService,
  pubsub: async () => (await import("./pubsub.js")).pubsubService,
  mqtt: async () => (await import("./mqtt.js")).mqttService,
  nats: async () => (await import("./nats.js")).natsService,
  kubectl: async () => (await import("./kubectl.js")).kubectlService,
  tmpfs: async () => (await import("./tmpfs.js")).tmpfsService,
  redis: async () => (await import("./redis.js")).redisService,
} satisfies Record<string, () => Promise<TestService>>;

export type ServiceName = keyof typeof services;

export function isServiceName(name: string): name is ServiceName {
  return Object.hasOwn(services, name);
}
