import { isKafkaReady, startKafka } from "./kafka/broker.js";
import type { RunningService, TestService } from "./services.js";

/**
 * A real Kafka for the suite: reuses one already answering at KAFKA_BOOTSTRAP_SERVERS (or
 * 127.0.0.1:9092), otherwise starts one from the Maven-fetched jars and stops it afterwards.
 */
export const kafkaService: TestService = {
  name: "kafka",
  async start(): Promise<RunningService> {
    const configured = process.env.KAFKA_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092";
    const env = (bootstrap: string) => ({
      KAFKA_BOOTSTRAP_SERVERS: bootstrap,
      HERALD_KAFKA_BOOTSTRAP_SERVERS: bootstrap,
    });
    if (await isKafkaReady(configured)) return { env: env(configured), stop: async () => {} };
    const broker = await startKafka(Number(configured.split(":").pop()));
    return { env: env(broker.bootstrap), stop: () => broker.destroy() };
  },
};
