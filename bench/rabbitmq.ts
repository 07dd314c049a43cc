/**
 * RabbitMQ case, in BENCH_RUNS rounds (default 3), each on the same server:
 *
 * - RabbitMQ PerfTest, the ceiling (bench/perftest.ts): one producer with confirms, one consumer,
 *   persistent messages through a fanout exchange to a durable quorum queue, for BENCH_DURATION.
 * - raw amqplib publishing with confirms, one event per publish and `connections` in flight on one
 *   confirm channel (Herald's ingress strategy), to a durable fanout exchange with a durable quorum
 *   queue bound to it, as Herald's topology has once a channel has a Subscription
 *   (adapters/rabbitmq/topology.ts).
 * - Herald ingress into a RabbitmqChannel whose exchange has the same kind of queue bound (declared
 *   here, with no consumer, as the raw side's), then Herald end to end to one subscriber.
 */
import { connect, type ConfirmChannel } from "amqplib";
import { RABBITMQ_URL } from "../test/support/rabbitmq.js";
import { backendFigures, backendMethod, benchBackend, type RawPublisher } from "./backend.js";
import { perfTest, HERALD_DEFAULT_PREFETCH, PERFTEST_CONFIRM_WINDOW } from "./perftest.js";
import { inRounds, medianRatio, summariseRounds } from "./rounds.js";
import { EVENT_BODY } from "./support.js";

const QUORUM = { durable: true, arguments: { "x-queue-type": "quorum" } };

export async function benchRabbitmq(options: {
  durationSeconds: number;
  connections: number;
  workers?: number | undefined;
  runs: number;
}) {
  const rounds = await inRounds(options.runs, "rabbitmq", async () => ({
    perfTest: await perfTest(RABBITMQ_URL, options.durationSeconds),
    ...(await benchBackend({
      ...options,
      env: { HERALD_RABBITMQ_URL: RABBITMQ_URL },
      channelTemplate: "    apiVersion: messaging.herald.dev/v1alpha1\n    kind: RabbitmqChannel\n",
      raw: rawRabbitmq,
      prepareIngress: (channel) => bindQuorumQueue(`herald.default.${channel}`),
    })),
  }));
  const summary = summariseRounds(rounds, {
    perfTestSentPerSecond: (round) => round.perfTest.sentPerSecond,
    perfTestReceivedPerSecond: (round) => round.perfTest.receivedPerSecond,
    perfTestConsumerP50Ms: (round) => round.perfTest.consumerLatencyMs.median,
    perfTestConsumerP99Ms: (round) => round.perfTest.consumerLatencyMs.p99,
    ...backendFigures,
  });
  return {
    method: {
      ...backendMethod(options),
      messageSize: Buffer.byteLength(EVENT_BODY),
      perfTest: {
        producers: 1,
        consumers: 1,
        flag: "persistent",
        confirm: PERFTEST_CONFIRM_WINDOW,
        queue: "quorum, durable, bound to a fanout exchange",
        qos: HERALD_DEFAULT_PREFETCH,
        seconds: options.durationSeconds,
      },
      rawClient: "amqplib confirm channel, persistent, fanout exchange with a durable quorum queue bound",
    },
    summary,
    ratios: {
      heraldIngressVsPerfTestSent: medianRatio(summary.heraldIngressPerSecond, summary.perfTestSentPerSecond),
      heraldEndToEndVsPerfTestReceived: medianRatio(
        summary.heraldEndToEndPerSecond,
        summary.perfTestReceivedPerSecond,
      ),
      heraldIngressVsRawClient: medianRatio(summary.heraldIngressPerSecond, summary.rawClientPerSecond),
    },
    rounds,
  };
}

/** Declares a durable quorum queue bound to `exchange` (which must exist); the result deletes it. */
export async function bindQuorumQueue(exchange: string): Promise<() => Promise<void>> {
  const connection = await connect(RABBITMQ_URL);
  const channel = await connection.createChannel();
  await channel.checkExchange(exchange);
  const queue = `${exchange}.bench-ingress`;
  await channel.assertQueue(queue, QUORUM);
  await channel.bindQueue(queue, exchange, "");
  return async () => {
    await channel.deleteQueue(queue);
    await connection.close();
  };
}

async function rawRabbitmq(): Promise<RawPublisher> {
  const connection = await connect(RABBITMQ_URL);
  const channel: ConfirmChannel = await connection.createConfirmChannel();
  const exchange = `raw-bench-${Date.now()}`;
  await channel.assertExchange(exchange, "fanout", { durable: true });
  await channel.assertQueue(exchange, QUORUM);
  await channel.bindQueue(exchange, exchange, "");
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
          (error) => (error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve()),
        );
      }),
    close: async () => {
      await channel.deleteQueue(exchange);
      await channel.deleteExchange(exchange);
      await connection.close();
    },
  };
}
