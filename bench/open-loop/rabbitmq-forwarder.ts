/**
 * The fair baseline of Herald's RabbitmqChannel, one process doing the same work with the same
 * strategy (forwarder-parts.ts around it): each event published on its own as a persistent message
 * on one confirm channel, `202` once RabbitMQ confirmed it, to a durable fanout exchange with a
 * durable quorum queue bound (a channel with one Subscription, adapters/rabbitmq/topology.ts); a
 * consumer on its own channel with Herald's default prefetch (10) delivering each message and
 * acknowledging it after the subscriber answered. argv: subscriber URL, exchange and queue name,
 * AMQP URL.
 */
import { forwarder } from "./forwarder-parts.js";

export const RABBITMQ_FORWARDER = forwarder(`
import { connect } from "amqplib";
const [, name, url] = process.argv.slice(1);
const connection = await connect(url);
const confirms = await connection.createConfirmChannel();
await confirms.assertExchange(name, "fanout", { durable: true });
await confirms.assertQueue(name, { durable: true, arguments: { "x-queue-type": "quorum" } });
await confirms.bindQueue(name, name, "");
const publish = (headers, body) =>
  new Promise((resolve, reject) =>
    confirms.publish(name, "", body, { persistent: true, headers }, (error) => (error ? reject(error) : resolve())),
  );
let closing = false;
const consumer = await connection.createChannel();
await consumer.prefetch(10);
await consumer.consume(name, (message) => {
  if (message === null) return;
  void deliver(message.properties.headers, message.content).then(() => {
    // After cleanup closed the channel, RabbitMQ has returned the message to the queue.
    if (!closing) consumer.ack(message);
  });
});
const cleanup = async () => {
  closing = true;
  await consumer.close();
  await confirms.deleteQueue(name);
  await confirms.deleteExchange(name);
  await connection.close();
};
`);
