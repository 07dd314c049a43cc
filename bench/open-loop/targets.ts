/**
 * The open-loop targets by name. Herald runs one channel of a kind with one Subscription; each
 * backend's baseline is one process doing the same work with the same client and strategy
 * (bench/open-loop/*-forwarder.ts). The backends are the ones the tests use: Kafka at
 * 127.0.0.1:9092, RabbitMQ at HERALD_RABBITMQ_URL, the Pub/Sub emulator at PUBSUB_EMULATOR_HOST
 * (127.0.0.1:8085), NATS at NATS_URL (nats://127.0.0.1:4222).
 */
import { RABBITMQ_URL } from "../../test/support/rabbitmq.js";
import { BARE_SERVER } from "../support.js";
import { heraldTarget, scriptTarget, untilDelivering } from "./herald-target.js";
import { KAFKA_FORWARDER } from "./kafka-forwarder.js";
import type { Target } from "./measure.js";
import { NATS_FORWARDER } from "./nats-forwarder.js";
import { MINIMAL_FORWARDER } from "./processes.js";
import { PUBSUB_FORWARDER } from "./pubsub-forwarder.js";
import { RABBITMQ_FORWARDER } from "./rabbitmq-forwarder.js";

const PUBSUB_HOST = process.env.PUBSUB_EMULATOR_HOST ?? "127.0.0.1:8085";
const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";

/** A raw-client forwarder (argv: subscriber, a fresh resource name, the backend's address), once it delivers. */
async function baseline(source: string, subscriber: string, address: string, what: string): Promise<Target> {
  const name = `herald-bench-baseline-${Date.now().toString(36)}`;
  const target = await scriptTarget(source, [subscriber, name, address], true);
  try {
    await untilDelivering(target.url, subscriber, `${what} baseline`);
    return target;
  } catch (error) {
    await target.stop();
    throw error;
  }
}

export interface TargetKind {
  label: string;
  start(subscriber: string, checkout: string): Promise<Target>;
}

/** A channel kind Herald runs, with the environment that points Herald at its backend. */
export interface HeraldChannel {
  apiVersion: string;
  kind: string;
  env: Record<string, string>;
}

/** The Herald targets' channels by target name (bench/profile.ts runs them too). */
export const HERALD_CHANNELS = {
  memory: { apiVersion: "messaging.knative.dev/v1", kind: "InMemoryChannel", env: {} },
  kafka: { apiVersion: "messaging.knative.dev/v1beta1", kind: "KafkaChannel", env: {} },
  rabbitmq: {
    apiVersion: "messaging.herald.dev/v1alpha1",
    kind: "RabbitmqChannel",
    env: { HERALD_RABBITMQ_URL: RABBITMQ_URL },
  },
  pubsub: {
    apiVersion: "messaging.herald.dev/v1alpha1",
    kind: "PubSubChannel",
    env: { PUBSUB_EMULATOR_HOST: PUBSUB_HOST },
  },
  nats: {
    apiVersion: "messaging.knative.dev/v1alpha1",
    kind: "NatsJetStreamChannel",
    env: { HERALD_NATS_URL: NATS_URL },
  },
  log: { apiVersion: "messaging.herald.dev/v1alpha1", kind: "LogChannel", env: {} },
} satisfies Record<string, HeraldChannel>;

function heraldKind(label: string, channel: HeraldChannel): TargetKind {
  return {
    label,
    start: (subscriber, checkout) =>
      heraldTarget(channel.apiVersion, channel.kind, subscriber, checkout, [], channel.env),
  };
}

/** The targets by name; `memory@<dir>` and `log@<dir>` run Herald from the checkout in `<dir>`. */
export const OPEN_LOOP_TARGETS: Record<string, TargetKind> = {
  bare: {
    label: "bare node:http server answering 202 (ingress only: no delivery)",
    start: () => scriptTarget(BARE_SERVER, [], false),
  },
  forwarder: {
    label: "minimal Node forwarder (node:http → FIFO → undici Pool → subscriber)",
    start: (subscriber) => scriptTarget(MINIMAL_FORWARDER, [subscriber], true),
  },
  memory: heraldKind("Herald, InMemoryChannel + Subscription", HERALD_CHANNELS.memory),
  kafka: heraldKind("Herald, KafkaChannel (1 partition) + Subscription", HERALD_CHANNELS.kafka),
  "kafka-baseline": {
    label: "kafkajs forwarder, same group commit and consumer strategy",
    start: async (subscriber) => {
      const topic = `herald-bench-baseline-${Date.now().toString(36)}`;
      const target = await scriptTarget(KAFKA_FORWARDER, [subscriber, topic, "127.0.0.1:9092"], true);
      await untilDelivering(target.url, subscriber, "Kafka baseline");
      return target;
    },
  },
  rabbitmq: heraldKind("Herald, RabbitmqChannel (quorum queue) + Subscription", HERALD_CHANNELS.rabbitmq),
  "rabbitmq-baseline": {
    label: "amqplib forwarder, confirms, quorum queue, prefetch 10",
    start: (subscriber) => baseline(RABBITMQ_FORWARDER, subscriber, RABBITMQ_URL, "RabbitMQ"),
  },
  pubsub: heraldKind("Herald, PubSubChannel (emulator) + Subscription", HERALD_CHANNELS.pubsub),
  "pubsub-baseline": {
    label: "@google-cloud/pubsub forwarder (emulator), same batching and flow control",
    start: (subscriber) => baseline(PUBSUB_FORWARDER, subscriber, PUBSUB_HOST, "Pub/Sub"),
  },
  nats: heraldKind("Herald, NatsJetStreamChannel + Subscription", HERALD_CHANNELS.nats),
  "nats-baseline": {
    label: "@nats-io JetStream forwarder, acked publishes, pull consumer, 100 in flight",
    start: (subscriber) => baseline(NATS_FORWARDER, subscriber, NATS_URL, "NATS"),
  },
  log: heraldKind("Herald, LogChannel (the default) + Subscription", HERALD_CHANNELS.log),
};
