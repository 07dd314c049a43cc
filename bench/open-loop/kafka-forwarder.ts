/**
 * The fair baseline of Herald's KafkaChannel, one process doing the same work with the same
 * strategy: node:http ingress; group commit to a 1-partition topic (while one produce request is in
 * flight, the events that arrive wait and go together in the next; `202` once Kafka acknowledged
 * the request that carried the event) through an idempotent kafkajs producer, acks=all, one request
 * in flight; a kafkajs consumer (its own group) delivering each fetched batch with 100 in flight
 * over an undici Pool of 64 connections, then committing it. argv: subscriber URL, topic, brokers.
 */
export const KAFKA_FORWARDER = `
import { createServer } from "node:http";
import { Kafka, logLevel } from "kafkajs";
import { Pool } from "undici";
const [subscriberUrl, topic, brokers] = process.argv.slice(1);
const subscriber = new URL(subscriberUrl);
const pool = new Pool(subscriber.origin, { connections: 64, pipelining: 1, keepAliveTimeout: 30000 });
const kafka = new Kafka({ clientId: "herald-bench-baseline", brokers: brokers.split(","), logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] });
await admin.disconnect();
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
await producer.connect();
let waiting = [];
let sending = false;
const drain = async () => {
  sending = true;
  await Promise.resolve();
  while (waiting.length) {
    const batch = waiting;
    waiting = [];
    const ok = await producer.send({ topic, acks: -1, messages: batch.map((entry) => entry.message) }).then(() => true, () => false);
    for (const entry of batch) entry.done(ok);
  }
  sending = false;
};
const consumer = kafka.consumer({ groupId: topic + ".baseline" });
await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: true });
await consumer.run({
  autoCommit: false,
  eachBatchAutoResolve: false,
  eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
    const messages = batch.messages;
    let next = 0;
    const worker = async () => {
      while (next < messages.length) {
        const message = messages[next++];
        const headers = [];
        for (const [name, value] of Object.entries(message.headers ?? {})) headers.push(name, String(value));
        await pool.request({ method: "POST", path: subscriber.pathname, headers, body: message.value })
          .then((response) => response.body.dump(), () => {});
      }
    };
    await Promise.all(Array.from({ length: Math.min(100, messages.length) }, worker));
    const last = messages[messages.length - 1];
    if (last) {
      resolveOffset(last.offset);
      await consumer.commitOffsets([{ topic, partition: batch.partition, offset: String(BigInt(last.offset) + 1n) }]);
    }
    await heartbeat();
  },
});
const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    const headers = {};
    for (const [name, value] of Object.entries(req.headers))
      if (name.startsWith("ce-") || name === "content-type") headers[name] = value;
    waiting.push({
      message: { value: Buffer.concat(chunks), headers },
      done: (ok) => { res.writeHead(ok ? 202 : 503); res.end(); },
    });
    if (!sending) void drain();
  });
});
process.once("SIGTERM", async () => {
  server.close();
  await consumer.disconnect().catch(() => {});
  await producer.disconnect().catch(() => {});
  const cleanup = kafka.admin();
  await cleanup.connect().then(() => cleanup.deleteTopics({ topics: [topic] })).catch(() => {});
  await cleanup.disconnect().catch(() => {});
  process.exit(0);
});
server.keepAliveTimeout = 65000;
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
`;
