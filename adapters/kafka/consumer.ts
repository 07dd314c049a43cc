import type { EachBatchPayload, Kafka, KafkaMessage } from "kafkajs";
import type { Logger } from "pino";
import type { CloudEvent } from "../../src/events/event.js";
import {
  REDELIVERY_DELAY_MS,
  type DeliveryContext,
  type EventHandler,
  type SubscriptionHandle,
  type SubscriptionTarget,
} from "../adapter.js";
import { OffsetCommits, type TakenOffset } from "./offsets.js";
import { OrderedLanes, Slots } from "./window.js";

const HEARTBEAT_MS = 3_000;
/**
 * How long `close` waits for its last commit: kafkajs retries a refused one (the group rebalancing
 * as members leave) for many seconds. What it did not commit is delivered again by the next member.
 */
const CLOSE_COMMIT_MS = 3_000;
/**
 * How long an ordered consumer's fetch waits for records (kafkajs: 5 s), and sleeps when every
 * partition is paused: a lane that resumes waits at most this long for its next records.
 */
const ORDERED_FETCH_WAIT_MS = 250;

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
 * One subscription's consumer group member. Fetching and delivering are decoupled: a fetched batch
 * is handed over without waiting for its slowest event, and offsets are committed manually, in the
 * background (offsets.ts), only below the lowest record whose handler has not resolved.
 *
 * - Unordered: up to maxInFlight handler calls at once across the member's partitions; a batch
 *   waits only for a free slot, never for the events before it to finish.
 * - Ordered: one event at a time per partition, partitions in parallel (window.ts); a rejected
 *   event is retried in place after REDELIVERY_DELAY_MS, before any later one of its partition.
 *
 * `close` stops fetching, waits for the handler calls in flight, commits what finished and leaves
 * the rest uncommitted for the next member.
 */
export async function startConsumer(options: ConsumerOptions): Promise<SubscriptionHandle> {
  const { client, topic, group, subscription, logger } = options;
  const consumer = client.consumer({
    groupId: group,
    sessionTimeout: 30_000,
    heartbeatInterval: HEARTBEAT_MS,
    retry: { retries: 8, restartOnFailure: async () => true },
    ...(subscription.ordering === "ordered" ? { maxWaitTimeInMs: ORDERED_FETCH_WAIT_MS } : {}),
  });
  const commits = new OffsetCommits(consumer, topic, group, logger);
  const state: ConsumerState = { closing: false, inFlight: new Set() };
  const ordered = subscription.ordering === "ordered";
  const slots = new Slots(subscription.maxInFlight);
  const lanes = new OrderedLanes({
    run: (partition, message) => deliver(options, state, partition, message),
    pause: (partition) => consumer.pause([{ topic, partitions: [partition] }]),
    resume: (partition) => consumer.resume([{ topic, partitions: [partition] }]),
  });
  consumer.on(consumer.events.CRASH, (event) => {
    const error = event.payload.error;
    logger.warn({ group, err: error.message, restart: event.payload.restart }, "Kafka consumer crashed");
  });
  // Commit what finished before the partitions move to another member, so it need not repeat them.
  consumer.on(consumer.events.REBALANCING, () => void commits.commit());
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 1,
      eachBatchAutoResolve: false,
      eachBatch: (payload) =>
        ordered
          ? Promise.resolve(queueInOrder(payload, lanes, commits, state))
          : dispatchConcurrently(payload, slots, commits, options, state),
    });
  } catch (error) {
    await consumer.disconnect().catch(() => undefined);
    throw error;
  }
  commits.start();
  return {
    close: async () => {
      state.closing = true;
      consumer.pause([{ topic }]);
      slots.close();
      lanes.close();
      await Promise.allSettled([...state.inFlight, lanes.settled()]);
      await untilTimeout(commits.stop(), CLOSE_COMMIT_MS);
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
  /** Handler calls of unordered delivery not settled yet. */
  readonly inFlight: Set<Promise<void>>;
}

/** Whether the rest of a batch must be left: the consumer stops, or the batch is from before a rebalance. */
function mustStop(payload: EachBatchPayload, state: ConsumerState): boolean {
  return state.closing || !payload.isRunning() || payload.isStale();
}

/**
 * Starts a handler call per record as slots free up, and returns once every record of the batch
 * started, so the next fetch does not wait for the slowest event of this one.
 */
async function dispatchConcurrently(
  payload: EachBatchPayload,
  slots: Slots,
  commits: OffsetCommits,
  options: ConsumerOptions,
  state: ConsumerState,
): Promise<void> {
  const { batch } = payload;
  const offsets = commits.partition(batch.partition);
  const stopBeating = keepBeating(payload);
  try {
    for (const message of batch.messages) {
      if (mustStop(payload, state) || !(await slots.acquire())) return;
      if (mustStop(payload, state)) {
        slots.release();
        return;
      }
      const taken = offsets.take(BigInt(message.offset));
      if (taken === undefined) slots.release();
      else track(state, deliverTaken(options, state, batch.partition, message, taken, slots));
      payload.resolveOffset(message.offset);
    }
  } finally {
    stopBeating();
  }
}

async function deliverTaken(
  options: ConsumerOptions,
  state: ConsumerState,
  partition: number,
  message: KafkaMessage,
  taken: TakenOffset,
  slots: Slots,
): Promise<void> {
  try {
    await deliver(options, state, partition, message);
    taken.done = true;
  } catch {
    // Only while closing: the record stays uncommitted for the next member.
  } finally {
    slots.release();
  }
}

/** Queues the batch on its partition's lane (up to the lane's bound; the rest is fetched again). */
function queueInOrder(
  payload: EachBatchPayload,
  lanes: OrderedLanes,
  commits: OffsetCommits,
  state: ConsumerState,
): void {
  const { batch } = payload;
  const offsets = commits.partition(batch.partition);
  for (const message of batch.messages) {
    if (mustStop(payload, state) || !lanes.hasRoom(batch.partition)) break;
    const taken = offsets.take(BigInt(message.offset));
    if (taken !== undefined) lanes.push(batch.partition, message, taken);
    payload.resolveOffset(message.offset);
  }
}

function track(state: ConsumerState, work: Promise<void>): void {
  state.inFlight.add(work);
  void work.finally(() => state.inFlight.delete(work));
}

/**
 * Calls the handler until it resolves, waiting REDELIVERY_DELAY_MS after each rejection. Once the
 * consumer is closing, a rejection rejects instead, leaving the event uncommitted.
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

/** Heartbeats while a batch waits for free slots, so the group does not evict this member. */
function keepBeating(payload: EachBatchPayload): () => void {
  const timer = setInterval(() => void payload.heartbeat().catch(() => undefined), HEARTBEAT_MS);
  return () => clearInterval(timer);
}

async function untilTimeout(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  try {
    await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
