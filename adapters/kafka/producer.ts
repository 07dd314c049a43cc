import type { Kafka, Message, Producer } from "kafkajs";
import type { Logger } from "pino";

/** One kafkajs producer and the topics it has written to (kafkajs's "target topics"). */
interface Generation {
  readonly producer: Producer;
  readonly ready: Promise<void>;
  readonly topics: Set<string>;
  inFlight: number;
  retired: boolean;
  disconnected?: Promise<void>;
}

/**
 * The one idempotent producer (acks=all) every channel publishes through.
 *
 * kafkajs keeps every topic a producer has written to and refreshes metadata for all of them at
 * once; when one of them is deleted, that refresh fails with UNKNOWN_TOPIC_OR_PARTITION and the
 * producer can no longer write to any topic it did not know yet (kafkajs #1146, #1622). It has no
 * API to forget a topic, so the producer is replaced instead: after this adapter deletes a topic
 * the producer wrote to (`forget`), and when a send fails on an unknown topic while a topic the
 * producer knows is gone (deleted by another process or an operator). A replaced producer finishes
 * the sends it has in flight, then disconnects; new sends go to the new one, in order, because the
 * outbox sends one request per topic at a time.
 */
export class SharedProducer {
  private current: Generation | undefined;
  /** Every producer not disconnected yet: the current one and replaced ones finishing their sends. */
  private readonly generations = new Set<Generation>();
  private closed = false;

  constructor(
    private readonly client: Kafka,
    /** The topics that exist in Kafka now (a metadata round trip). */
    private readonly listTopics: () => Promise<readonly string[]>,
    private readonly logger: Logger,
  ) {}

  /** Resolves once Kafka acknowledged every message (acks=all). */
  async send(topic: string, messages: Message[]): Promise<void> {
    const generation = this.generation();
    try {
      await this.sendWith(generation, topic, messages);
    } catch (error) {
      if (!isUnknownTopic(error)) throw error;
      const replaced = generation.retired || (await this.forgetDeletedTopics().catch(() => false));
      if (!replaced) throw error;
      await this.sendWith(this.generation(), topic, messages);
    }
  }

  /** The adapter deleted `topic`: a producer that wrote to it is replaced before the next send. */
  forget(topic: string): void {
    if (this.current?.topics.has(topic)) this.retire(this.current, [topic]);
  }

  /**
   * Replaces the producer if a topic it wrote to no longer exists. `existing` is the list of
   * topics when the caller has just fetched it. Resolves whether the producer was replaced.
   */
  async forgetDeletedTopics(existing?: readonly string[]): Promise<boolean> {
    const generation = this.current;
    if (!generation || generation.topics.size === 0) return false;
    const present = new Set(existing ?? (await this.listTopics()));
    const gone = [...generation.topics].filter((topic) => !present.has(topic));
    if (gone.length === 0) return false;
    this.retire(generation, gone);
    return true;
  }

  /** Disconnects every producer now; sends still in flight reject. */
  async close(): Promise<void> {
    this.closed = true;
    this.current = undefined;
    await Promise.all([...this.generations].map((generation) => this.disconnect(generation)));
  }

  private async sendWith(generation: Generation, topic: string, messages: Message[]): Promise<void> {
    generation.inFlight++;
    try {
      await generation.ready;
      await generation.producer.send({ topic, acks: -1, messages });
      generation.topics.add(topic);
    } catch (error) {
      // kafkajs drops a topic it could not find from its targets, and keeps it after other errors.
      if (!isUnknownTopic(error)) generation.topics.add(topic);
      throw error;
    } finally {
      generation.inFlight--;
      if (generation.retired && generation.inFlight === 0) void this.disconnect(generation);
    }
  }

  private generation(): Generation {
    if (this.current) return this.current;
    if (this.closed) throw new Error("the Kafka adapter is closed");
    const producer = this.client.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
    });
    const generation: Generation = {
      producer,
      ready: producer.connect(),
      topics: new Set(),
      inFlight: 0,
      retired: false,
    };
    // A producer that cannot connect or lost its connection is replaced by the next send.
    generation.ready.catch(() => this.retire(generation, []));
    producer.on(producer.events.DISCONNECT, () => {
      if (this.current === generation) this.retire(generation, []);
    });
    this.generations.add(generation);
    this.current = generation;
    return generation;
  }

  private retire(generation: Generation, deletedTopics: readonly string[]): void {
    if (generation.retired) return;
    generation.retired = true;
    if (this.current === generation) this.current = undefined;
    if (deletedTopics.length > 0)
      this.logger.info(
        { topics: deletedTopics },
        "replacing the Kafka producer: topics it wrote to were deleted",
      );
    if (generation.inFlight === 0) void this.disconnect(generation);
  }

  private disconnect(generation: Generation): Promise<void> {
    generation.disconnected ??= generation.producer
      .disconnect()
      .catch((error: unknown) =>
        this.logger.debug({ err: (error as Error).message }, "Kafka producer disconnect failed"),
      )
      .finally(() => this.generations.delete(generation));
    return generation.disconnected;
  }
}

/** Whether a kafkajs error (or one it wraps, e.g. after its retries) is UNKNOWN_TOPIC_OR_PARTITION. */
function isUnknownTopic(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current instanceof Error; depth++) {
    if ("type" in current && current.type === "UNKNOWN_TOPIC_OR_PARTITION") return true;
    current = current.cause;
  }
  return false;
}
