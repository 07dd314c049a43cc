import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from "kafkajs";
import type { Logger } from "pino";
import type { CloudEvent } from "../../src/events/event.js";
import {
  REDELIVERY_DELAY_MS,
  type DeliveryContext,
  type EventHandler,
  type SubscriptionHandle,
  type SubscriptionTarget,
} from "../adapter.js";

const HEARTBEAT_MS = 3_000;

export interface ConsumerOptions {
  readonly client: Kafka;
  readonly topic: string;
  readonly group: string;
  readonly subscription: SubscriptionTarget;
  readonly handler: EventHandler;
  /** Turns a record into the event handed to the handler (wrapping one that is not a CloudEvent). */
  readonly toEvent: (
    partition: number,
    message: KafkaMessage,
  ) => { event: CloudEvent; context: DeliveryContext };
  readonly logger: Logger;
}

/**
 * One subscription's consumer group member. Offsets are committed manually and only past events
 * whose handler resolved. Ordered: one event at a time per partition (partitions in parallel), a
 * rejected event retried in place after REDELIVERY_DELAY_MS, before any later one. Unordered: up to
 * maxInFlight events of a fetched batch at once; the contiguous completed prefix is committed.
 * `close` stops fetching, waits for the handler calls in flight and leaves the rest uncommitted.
 */
export async function startConsumer(options: ConsumerOptions): Promise<SubscriptionHandle> {
  const { client, topic, group, subscription, logger } = options;
  const consumer = client.consumer({
    groupId: group,
    sessionTimeout: 30_000,
    heartbeatInterval: HEARTBEAT_MS,
    retry: { retries: 8, restartOnFailure: async () => true },
  });
  const state = { closing: false };
  consumer.on(consumer.events.CRASH, (event) => {
    const error = event.payload.error;
    logger.warn({ group, err: error.message, restart: event.payload.restart }, "Kafka consumer crashed");
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const ordered = subscription.ordering === "ordered";
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: ordered ? 4 : 1,
      eachBatchAutoResolve: false,
      eachBatch: (payload) =>
        ordered
          ? consumeInOrder(payload, consumer, topic, options, state)
          : consumeConcurrently(payload, consumer, topic, options, state),
    });
  } catch (error) {
    await consumer.disconnect().catch(() => undefined);
    throw error;
  }
  return {
    close: async () => {
      state.closing = true;
      await consumer
        .disconnect()
        .catch((error: unknown) =>
          logger.warn({ group, err: (error as Error).message }, "Kafka consumer disconnect failed"),
        );
    },
  };
}

interface ConsumerState {
  closing: boolean;
}

async function consumeInOrder(
  payload: EachBatchPayload,
  consumer: Consumer,
  topic: string,
  options: ConsumerOptions,
  state: ConsumerState,
): Promise<void> {
  const { batch } = payload;
  const stopBeating = keepBeating(payload);
  try {
    for (const message of batch.messages) {
      if (!payload.isRunning() || payload.isStale() || state.closing) return;
      await deliver(options, state, batch.partition, message);
      payload.resolveOffset(message.offset);
      await commit(consumer, topic, batch.partition, message.offset);
    }
  } finally {
    stopBeating();
  }
}

async function consumeConcurrently(
  payload: EachBatchPayload,
  consumer: Consumer,
  topic: string,
  options: ConsumerOptions,
  state: ConsumerState,
): Promise<void> {
  const { batch } = payload;
  const stopBeating = keepBeating(payload);
  try {
    // A pool of maxInFlight workers over the batch; only the contiguous completed prefix is committed.
    const messages = batch.messages;
    const done = new Array<boolean>(messages.length).fill(false);
    let next = 0;
    let failure: Error | undefined;
    const worker = async () => {
      while (next < messages.length && failure === undefined) {
        const index = next++;
        try {
          await deliver(options, state, batch.partition, messages[index]!);
          done[index] = true;
        } catch (error) {
          failure = asError(error);
        }
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(options.subscription.maxInFlight, messages.length) }, worker),
    );
    let contiguous = -1;
    while (contiguous + 1 < messages.length && done[contiguous + 1]) contiguous++;
    if (contiguous >= 0) {
      const last = messages[contiguous]!;
      payload.resolveOffset(last.offset);
      await commit(consumer, topic, batch.partition, last.offset);
    }
    if (failure !== undefined) throw failure;
  } finally {
    stopBeating();
  }
}

/**
 * Calls the handler until it resolves, waiting REDELIVERY_DELAY_MS after each rejection. Once the
 * consumer is closing, a rejection ends the batch instead, leaving the event uncommitted.
 */
async function deliver(
  options: ConsumerOptions,
  state: ConsumerState,
  partition: number,
  message: KafkaMessage,
): Promise<void> {
  const { event, context } = options.toEvent(partition, message);
  for (;;) {
    try {
      await options.handler(event, context);
      return;
    } catch (error) {
      if (state.closing) throw asError(error);
      await new Promise((resolve) => setTimeout(resolve, REDELIVERY_DELAY_MS));
      if (state.closing) throw asError(error);
    }
  }
}

/** Commits past `offset`: the next consumer of the group starts at the following record. */
async function commit(consumer: Consumer, topic: string, partition: number, offset: string): Promise<void> {
  await consumer.commitOffsets([{ topic, partition, offset: (BigInt(offset) + 1n).toString() }]);
}

/** Heartbeats while a long batch is being handled, so the group does not evict this member. */
function keepBeating(payload: EachBatchPayload): () => void {
  const timer = setInterval(() => void payload.heartbeat().catch(() => undefined), HEARTBEAT_MS);
  return () => clearInterval(timer);
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
