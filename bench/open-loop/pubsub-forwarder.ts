/**
 * The fair baseline of Herald's PubSubChannel, one process doing the same work with the same
 * strategy and client settings (forwarder-parts.ts around it): the @google-cloud/pubsub client on
 * the emulator, each event published with its ce- headers as attributes through a topic batching
 * for at most 5 ms, `202` once the publish resolved; a subscription (ack deadline 60 s, acked
 * messages retained) pulled with flow control of 100 messages (no excess) on four streams, each
 * message delivered and then acknowledged, acks sent within 5 ms as Herald's consumer sends them.
 * argv: subscriber URL, topic and subscription name, emulator host.
 */
import { forwarder } from "./forwarder-parts.js";

export const PUBSUB_FORWARDER = forwarder(`
import { Duration, PubSub } from "@google-cloud/pubsub";
const [, name, host] = process.argv.slice(1);
const client = new PubSub({ projectId: "herald-bench", apiEndpoint: host, emulatorMode: true });
const [created] = await client.createTopic(name);
await created.createSubscription(name, { ackDeadlineSeconds: 60, retainAckedMessages: true });
const topic = client.topic(name, { batching: { maxMilliseconds: 5 } });
const publish = (attributes, data) => topic.publishMessage({ data, attributes });
const subscription = client.subscription(name, {
  flowControl: { maxMessages: 100, allowExcessMessages: false },
  batching: { maxMilliseconds: 5 },
  minAckDeadline: Duration.from({ seconds: 60 }),
  maxAckDeadline: Duration.from({ seconds: 60 }),
  streamingOptions: { maxStreams: 4 },
});
subscription.on("message", (message) => {
  void deliver(message.attributes, message.data).then(() => message.ack());
});
subscription.on("error", (error) => console.error("pubsub baseline:", error.message));
const cleanup = async () => {
  await subscription.close();
  await client.subscription(name).delete();
  await client.topic(name).delete();
  await client.close();
};
`);
