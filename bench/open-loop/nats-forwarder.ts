/**
 * The fair baseline of Herald's NatsJetStreamChannel, one process doing the same work with the same
 * strategy (forwarder-parts.ts around it): a file-storage stream of its own, each event published
 * with its ce- headers and a message id, `202` once JetStream acknowledged it; a durable pull
 * consumer (explicit acks) fetching up to 100 messages in flight, delivering each and acknowledging
 * it after the subscriber answered (as the raw side of bench/nats.ts). argv: subscriber URL, stream
 * name, NATS URL.
 */
import { forwarder } from "./forwarder-parts.js";

export const NATS_FORWARDER = forwarder(`
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, headers as natsHeaders } from "@nats-io/transport-node";
const [, name, url] = process.argv.slice(1);
const subject = "herald-bench." + name;
const MAX_IN_FLIGHT = 100;
const nc = await connect({ servers: url, noAsyncTraces: true });
const jsm = await jetstreamManager(nc);
await jsm.streams.add({ name, subjects: [subject], storage: "file", retention: "limits" });
const js = jetstream(nc);
const publish = async (headers, body) => {
  const h = natsHeaders();
  for (const [key, value] of Object.entries(headers)) h.set(key, String(value));
  await js.publish(subject, body, { headers: h, msgID: headers["ce-source"] + " " + headers["ce-id"] });
};
await jsm.consumers.add(name, {
  durable_name: "BASELINE",
  ack_policy: AckPolicy.Explicit,
  deliver_policy: DeliverPolicy.New,
  max_ack_pending: 1000,
});
const consumer = await js.consumers.get(name, "BASELINE");
let stopped = false;
let inFlight = 0;
let freed;
const handle = async (message) => {
  const headers = {};
  for (const key of message.headers?.keys() ?? []) headers[key] = message.headers.get(key);
  await deliver(headers, message.data);
  if (!stopped) message.ack();
  inFlight--;
  freed?.();
};
const consuming = (async () => {
  while (!stopped) {
    if (inFlight >= MAX_IN_FLIGHT) {
      await new Promise((resolve) => (freed = resolve));
      continue;
    }
    const messages = await consumer.fetch({ max_messages: MAX_IN_FLIGHT - inFlight, expires: 1000 });
    for await (const message of messages) {
      inFlight++;
      void handle(message);
    }
  }
})();
const cleanup = async () => {
  stopped = true;
  await consuming;
  await jsm.streams.delete(name);
  await nc.close();
};
`);
