import type { Admin, Kafka } from "kafkajs";
import { durationToMs } from "../../src/resources/duration.js";
import type { ReplayPosition } from "../adapter.js";
import type { KafkaChannelSpec } from "./spec.js";

/** How long `createTopic` waits for every partition to have a leader, and `deleteTopic` for it to go. */
const TOPOLOGY_WAIT_MS = 30_000;
const TOPOLOGY_POLL_MS = 100;
const ONE_WEEK_MS = 604_800_000;

/** An external topic that is not there; `reason` is Knative's for it, shown in the channel's status. */
export class TopicNotPresent extends Error {
  readonly reason = "TopicNotPresentOrInvalid";

  constructor(topic: string) {
    super(`topic ${topic} does not exist in Kafka (an external topic must be created beforehand)`);
  }
}

interface Connection {
  readonly admin: Admin;
  readonly ready: Promise<void>;
}

/**
 * The adapter's one admin connection: topics, consumer group offsets, cluster metadata.
 *
 * kafkajs's admin client, like its producer, remembers topics it looked up and fails every later
 * metadata refresh once one of them is deleted by someone else (kafkajs #1146). A remembered client
 * that fails is therefore dropped and the work tried once more on a fresh one.
 */
export class KafkaAdmin {
  private connection: Connection | undefined;
  private closed = false;

  constructor(private readonly client: Kafka) {}

  /**
   * Creates the topic if missing and resolves once every partition has a leader in the cluster's
   * metadata, so a producer's first send to it succeeds.
   */
  async createTopic(topic: string, spec: KafkaChannelSpec): Promise<void> {
    await this.run((admin) =>
      admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic,
            numPartitions: spec.numPartitions,
            replicationFactor: spec.replicationFactor,
            configEntries: [
              {
                name: "retention.ms",
                value: String(Math.round(durationToMs(spec.retentionDuration) ?? ONE_WEEK_MS)),
              },
            ],
          },
        ],
      }),
    );
    await this.waitFor(`leaders of ${topic}`, async (admin) => {
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
      const partitions = metadata.topics[0]?.partitions ?? [];
      return partitions.length > 0 && partitions.every((partition) => partition.leader >= 0);
    });
  }

  /**
   * Resolves with the partition count of a topic that must exist already (an external topic);
   * rejects with TopicNotPresent when it does not, or has no partition.
   */
  async requireTopic(topic: string): Promise<number> {
    if (!(await this.listTopics()).includes(topic)) throw new TopicNotPresent(topic);
    const metadata = await this.run((admin) => admin.fetchTopicMetadata({ topics: [topic] }));
    const partitions = metadata.topics[0]?.partitions.length ?? 0;
    if (partitions === 0) throw new TopicNotPresent(topic);
    return partitions;
  }

  /** Deletes the topic (a missing one counts as deleted) and resolves once metadata no longer lists it. */
  async deleteTopic(topic: string): Promise<void> {
    if (!(await this.listTopics()).includes(topic)) return;
    await this.run((admin) => admin.deleteTopics({ topics: [topic] })).catch(async (error: unknown) => {
      if ((await this.listTopics()).includes(topic)) throw error;
    });
    await this.waitFor(`deletion of ${topic}`, async (admin) => !(await admin.listTopics()).includes(topic));
  }

  /** Every topic of the cluster: a metadata round trip. */
  listTopics(): Promise<string[]> {
    return this.run((admin) => admin.listTopics());
  }

  /** Points a group that has no committed offset at the current end of every partition. */
  async startAtEnd(group: string, topic: string): Promise<void> {
    await this.run(async (admin) => {
      const committed = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      const partitions = committed[0]?.partitions ?? [];
      if (partitions.some((partition) => partition.offset !== "-1")) return;
      const ends = await admin.fetchTopicOffsets(topic);
      await admin.setOffsets({
        groupId: group,
        topic,
        partitions: ends.map((partition) => ({ partition: partition.partition, offset: partition.high })),
      });
    });
  }

  /**
   * Where a replay from `position` starts in each partition, and each partition's end now (records
   * before it were published before the replay).
   */
  async replayOffsets(
    topic: string,
    position: ReplayPosition,
  ): Promise<{ partition: number; offset: string; end: string }[]> {
    return this.run(async (admin) => {
      const bounds = await admin.fetchTopicOffsets(topic);
      const byTime =
        position.from === "time"
          ? await admin.fetchTopicOffsetsByTimestamp(topic, position.time.getTime())
          : [];
      return bounds.map(({ partition, low, high }) => {
        let offset: bigint;
        if (position.from === "beginning") offset = BigInt(low);
        else if (position.from === "offset") offset = BigInt(position.offset);
        else offset = BigInt(byTime.find((found) => found.partition === partition)?.offset ?? high);
        // An offset outside what the partition keeps starts at its nearest end.
        if (offset < BigInt(low)) offset = BigInt(low);
        if (offset > BigInt(high)) offset = BigInt(high);
        return { partition, offset: offset.toString(), end: high };
      });
    });
  }

  /** Moves a group that has no member to these offsets. */
  async setOffsets(
    group: string,
    topic: string,
    partitions: readonly { partition: number; offset: string }[],
  ): Promise<void> {
    await this.run((admin) =>
      admin.setOffsets({
        groupId: group,
        topic,
        partitions: partitions.map(({ partition, offset }) => ({ partition, offset })),
      }),
    );
  }

  async deleteGroup(group: string): Promise<void> {
    await this.run((admin) => admin.deleteGroups([group]));
  }

  /** Disconnects now, also from a broker still being connected to (it may never answer). */
  async close(): Promise<void> {
    this.closed = true;
    const connection = this.connection;
    this.connection = undefined;
    await connection?.admin.disconnect().catch(() => undefined);
  }

  private async run<T>(work: (admin: Admin) => Promise<T>): Promise<T> {
    const reused = this.connection !== undefined;
    try {
      return await this.attempt(work);
    } catch (error) {
      if (!reused) throw error;
      return this.attempt(work);
    }
  }

  /** Runs `work` on the shared client; a client that fails is disconnected and forgotten. */
  private async attempt<T>(work: (admin: Admin) => Promise<T>): Promise<T> {
    if (this.closed) throw new Error("the Kafka adapter is closed");
    const connection = (this.connection ??= this.connect());
    try {
      await connection.ready;
      return await work(connection.admin);
    } catch (error) {
      if (this.connection === connection) this.connection = undefined;
      await connection.admin.disconnect().catch(() => undefined);
      throw error;
    }
  }

  private connect(): Connection {
    const admin = this.client.admin();
    return { admin, ready: admin.connect() };
  }

  /** Polls `check` until it holds; throws after TOPOLOGY_WAIT_MS. */
  private async waitFor(what: string, check: (admin: Admin) => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + TOPOLOGY_WAIT_MS;
    let last: unknown;
    for (;;) {
      try {
        if (await this.run(check)) return;
        last = undefined;
      } catch (error) {
        last = error;
      }
      if (Date.now() > deadline)
        throw new Error(`Kafka did not show the ${what} within ${TOPOLOGY_WAIT_MS} ms`, { cause: last });
      await new Promise((resolve) => setTimeout(resolve, TOPOLOGY_POLL_MS));
    }
  }
}
