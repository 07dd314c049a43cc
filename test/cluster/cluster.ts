import assert from "node:assert/strict";
import { Kafka, logLevel, type Admin } from "kafkajs";
import { eventually } from "../support/eventually.js";
import { HeraldProcess } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";
import { channelWithSubscription } from "../support/streams.js";
import { childrenOf, requestOnNewConnection, socketOwner } from "./sockets.js";

/** A Channel on a 4-partition KafkaChannel with one Subscription to `subscriber`. */
export const kafkaChannel = (name: string, subscriber: string) =>
  channelWithSubscription({
    name,
    subscriber,
    template: "apiVersion: messaging.knative.dev/v1beta1\n    kind: KafkaChannel",
    templateSpec: "{ numPartitions: 4 }",
  });

/** Names of this run: a topic or consumer group left by an earlier run holds its members and offsets. */
export const runName = (prefix: string) => `${prefix}-${Date.now().toString(36)}`;

/**
 * `herald serve --workers 2` on KafkaChannels, with a subscriber that records which worker process
 * sent each delivery, and a Kafka admin to watch consumer groups.
 */
export class KafkaCluster {
  /** The worker processes that sent each delivery to `receiver`, by ce-id. */
  readonly deliveredBy = new Map<string, Set<number | undefined>>();

  private constructor(
    readonly herald: HeraldProcess,
    readonly receiver: Receiver,
    private readonly admin: Admin,
  ) {}

  static async start(): Promise<KafkaCluster> {
    const holder: { cluster?: KafkaCluster } = {};
    const receiver = await startReceiver((request) => {
      const cluster = holder.cluster!;
      const id = String(request.headers["ce-id"]);
      const port = Number(new URL(cluster.receiver.url).port);
      const sender = socketOwner(cluster.workers(), request.remotePort!, port);
      cluster.deliveredBy.set(id, (cluster.deliveredBy.get(id) ?? new Set()).add(sender));
      return { status: 202 };
    });
    const herald = await HeraldProcess.start({
      args: ["--workers", "2"],
      env: { HERALD_DEFAULT_CHANNEL_KIND: "KafkaChannel", HERALD_LOG_LEVEL: "info" },
    });
    const admin = new Kafka({
      clientId: "herald-test",
      brokers: [process.env.KAFKA_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092"],
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    holder.cluster = new KafkaCluster(herald, receiver, admin);
    await eventually(() => holder.cluster!.workers().length === 2, { message: "two worker processes" });
    return holder.cluster;
  }

  /** The primary's worker processes now. */
  workers(): number[] {
    return childrenOf(this.herald.child!.pid!);
  }

  /** Posts each event on a connection of its own, asserting 202; resolves with the workers that answered. */
  async post(channel: string, ids: readonly string[]): Promise<Set<number | undefined>> {
    const servedBy = new Set<number | undefined>();
    for (const id of ids) {
      const answer = await this.postOne(channel, id, this.workers());
      assert.equal(answer.status, 202, answer.body);
      servedBy.add(answer.servedBy);
    }
    return servedBy;
  }

  postOne(channel: string, id: string, workers: readonly number[], timeoutMs?: number) {
    return requestOnNewConnection(this.herald.channelUrl(channel), workers, {
      timeoutMs,
      method: "POST",
      headers: {
        "ce-specversion": "1.0",
        "ce-id": id,
        "ce-type": "dev.herald.cluster",
        "ce-source": "/test/cluster",
        "content-type": "application/json",
      },
      body: "{}",
    });
  }

  /** Waits until the subscription's consumer group has a member in each of the two workers. */
  groupHasTwoMembers(channel: string, subscription: string): Promise<true> {
    const group = `knative-messaging-kafka.default.${channel}.${subscription}`;
    return eventually(
      async () => {
        const { groups } = await this.admin.describeGroups([group]);
        return groups[0]?.state === "Stable" && groups[0].members.length === 2;
      },
      { timeoutMs: 60_000, message: `consumer group ${group} with a member in each worker` },
    );
  }

  /** Waits until `receiver` got every event of `ids`. */
  everyDelivered(ids: readonly string[], timeoutMs = 60_000): Promise<true> {
    return eventually(() => ids.every((id) => this.deliveredBy.has(id)), {
      timeoutMs,
      message: "every accepted event delivered",
    });
  }

  async close(): Promise<void> {
    await this.admin.disconnect();
    await this.herald.close();
    await this.receiver.close();
  }
}
