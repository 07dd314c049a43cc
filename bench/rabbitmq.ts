/** RabbitMQ case: Herald ingress into a RabbitmqChannel vs raw amqplib publishing with confirms, same server. */
import { connect } from "amqplib";
import { RABBITMQ_URL } from "../test/support/rabbitmq.js";
import { benchBackend } from "./backend.js";
import { EVENT_BODY } from "./support.js";

export async function benchRabbitmq(options: { durationSeconds: number; connections: number }) {
  return benchBackend({
    ...options,
    env: { HERALD_RABBITMQ_URL: RABBITMQ_URL },
    channelTemplate: "    apiVersion: messaging.herald.dev/v1alpha1\n    kind: RabbitmqChannel\n",
    raw: async () => {
      const connection = await connect(RABBITMQ_URL);
      const channel = await connection.createConfirmChannel();
      const exchange = `raw-bench-${Date.now()}`;
      // The same topology as the ingress case's channel: a durable fanout exchange, no subscription yet.
      await channel.assertExchange(exchange, "fanout", { durable: true });
      const content = Buffer.from(EVENT_BODY);
      return {
        publish: (id) =>
          new Promise<void>((resolve, reject) => {
            channel.publish(
              exchange,
              "",
              content,
              {
                persistent: true,
                contentType: "application/json",
                messageId: id,
                headers: {
                  cloudEvents_specversion: "1.0",
                  cloudEvents_id: id,
                  cloudEvents_type: "dev.herald.bench",
                  cloudEvents_source: "/bench",
                },
              },
              (error) =>
                error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(),
            );
          }),
        close: async () => {
          await channel.deleteExchange(exchange);
          await connection.close();
        },
      };
    },
  });
}
