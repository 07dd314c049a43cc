import type { Message } from "kafkajs";

/** Largest produce request a group commit builds (Kafka's default message.max.bytes is ~1 MiB). */
const MAX_BATCH_BYTES = 512 * 1024;

interface Entry {
  readonly messages: Message[];
  readonly bytes: number;
  /** The caller stopped waiting (its deadline passed): not sent if it has not been yet. */
  withdrawn: boolean;
  resolve(): void;
  reject(error: unknown): void;
}

interface TopicQueue {
  readonly waiting: Entry[];
}

export type SendBatch = (topic: string, messages: Message[]) => Promise<void>;

/**
 * Group commit: while one produce request of a topic is in flight, the publishes that arrive wait
 * and then go together as the next request (up to MAX_BATCH_BYTES). Each caller resolves when the
 * request holding its events is acknowledged, and the order of publishes to a topic is kept (one
 * request per topic at a time). Under load this turns many small acks=all round trips into few
 * large ones.
 */
export class Outbox {
  private readonly queues = new Map<string, TopicQueue>();

  constructor(private readonly send: SendBatch) {}

  /**
   * Queues `messages` for `topic`. `sent` settles with the request that carried them; `withdraw`
   * drops them if they are still waiting, so a caller that gave up (and answered 503) does not
   * have its events written afterwards.
   */
  enqueue(topic: string, messages: Message[]): { sent: Promise<void>; withdraw: () => void } {
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const sent = new Promise<void>((onResolve, onReject) => {
      resolve = onResolve;
      reject = onReject;
    });
    const entry: Entry = { messages, bytes: sizeOf(messages), withdrawn: false, resolve, reject };
    const queue = this.queues.get(topic);
    if (queue) queue.waiting.push(entry);
    else {
      const started: TopicQueue = { waiting: [entry] };
      this.queues.set(topic, started);
      void this.drain(topic, started);
    }
    return { sent, withdraw: () => (entry.withdrawn = true) };
  }

  /** Sends the topic's waiting entries, one request at a time, until none is left. */
  private async drain(topic: string, queue: TopicQueue): Promise<void> {
    // Starts on the next microtask: the publishes of this tick join the first request, and one
    // whose caller's deadline had already passed is withdrawn before anything is sent.
    await Promise.resolve();
    while (queue.waiting.length > 0) {
      const batch = takeBatch(queue.waiting).filter((entry) => !entry.withdrawn);
      if (batch.length === 0) continue;
      try {
        await this.send(
          topic,
          batch.flatMap((entry) => entry.messages),
        );
        for (const entry of batch) entry.resolve();
      } catch (error) {
        for (const entry of batch) entry.reject(error);
      }
    }
    this.queues.delete(topic);
  }
}

/** Removes and returns the longest prefix of `waiting` within MAX_BATCH_BYTES (at least one entry). */
function takeBatch(waiting: Entry[]): Entry[] {
  let bytes = waiting[0]!.bytes;
  let count = 1;
  while (count < waiting.length && bytes + waiting[count]!.bytes <= MAX_BATCH_BYTES) {
    bytes += waiting[count]!.bytes;
    count++;
  }
  return waiting.splice(0, count);
}

function sizeOf(messages: readonly Message[]): number {
  let bytes = 0;
  for (const { value } of messages) {
    if (typeof value === "string") bytes += Buffer.byteLength(value);
    else if (value) bytes += value.length;
  }
  return bytes;
}
