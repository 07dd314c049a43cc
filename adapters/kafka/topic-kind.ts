import kafkajs, { Kafka, type Admin } from "kafkajs";
import { z } from "zod";
import { defineTopologyKind, type TopologyContext } from "../topology-kind.js";
import { clientConfig, kafkaConfig } from "./config.js";

// kafkajs is CommonJS: its enums are properties of the default export, not named exports.
const { ConfigResourceTypes } = kafkajs;

/**
 * kafka.strimzi.io KafkaTopic (`v1beta2`, and `v1` of newer Strimzi), as Strimzi's topic operator
 * serves it: Knative's Kafka pages create the topic of a KafkaSource, KafkaSink or external-topic
 * Broker with one before the rest. Herald declares it on its own Kafka (HERALD_KAFKA_BOOTSTRAP_SERVERS),
 * whichever Kafka cluster the `strimzi.io/cluster` label names:
 *
 * - the topic `spec.topicName` (default: the resource's name; it cannot change, as in Strimzi) with
 *   `spec.partitions` and `spec.replicas` (default: the broker's `num.partitions` and
 *   `default.replication.factor`) and `spec.config` as its topic configuration;
 * - on a later apply, partitions grow to `spec.partitions`; fewer partitions, or another replication
 *   factor, leave it not Ready saying Kafka cannot do that (as the operator reports); `spec.config`
 *   replaces the topic's configuration, so the topic's settings are the spec's;
 * - deleting the KafkaTopic deletes the topic, as the operator does.
 */
const specSchema = z.object({
  topicName: z.string().min(1, "must not be empty").max(249, "is longer than Kafka's 249").optional(),
  partitions: z.number({ error: "must be a number" }).int().min(1, "must be at least 1").optional(),
  replicas: z
    .number({ error: "must be a number" })
    .int()
    .min(1, "must be at least 1")
    .max(32_767, "must be at most 32767")
    .optional(),
  config: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
});
type KafkaTopicSpec = z.output<typeof specSchema>;

/** Runs `work` on an admin client of its own, disconnected afterwards. */
async function onAdmin<T>(context: TopologyContext, work: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Kafka(clientConfig(context.configOf(kafkaConfig), 2)).admin();
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

const configEntries = (spec: KafkaTopicSpec) =>
  Object.entries(spec.config ?? {}).map(([name, value]) => ({ name, value: String(value) }));

async function declareTopic(admin: Admin, topic: string, spec: KafkaTopicSpec): Promise<void> {
  if (!(await admin.listTopics()).includes(topic)) {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic,
          numPartitions: spec.partitions ?? -1,
          replicationFactor: spec.replicas ?? -1,
          configEntries: configEntries(spec),
        },
      ],
    });
    return;
  }
  const { partitions } = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]!;
  const replicas = partitions[0]?.replicas.length;
  if (spec.replicas !== undefined && replicas !== undefined && replicas !== spec.replicas)
    throw new Error(
      `spec.replicas: topic ${topic} has a replication factor of ${replicas}; Herald does not reassign replicas, ` +
        "so it cannot become " +
        `${spec.replicas}`,
    );
  if (spec.partitions !== undefined && spec.partitions < partitions.length)
    throw new Error(
      `spec.partitions: topic ${topic} has ${partitions.length} partitions and Kafka cannot remove partitions ` +
        `(decreasing to ${spec.partitions} is not supported)`,
    );
  if (spec.partitions !== undefined && spec.partitions > partitions.length)
    await admin.createPartitions({ topicPartitions: [{ topic, count: spec.partitions }] });
  await admin.alterConfigs({
    validateOnly: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: configEntries(spec) }],
  });
}

export const kafkaTopicKind = defineTopologyKind({
  group: "kafka.strimzi.io",
  versions: ["v1beta2", "v1"],
  kind: "KafkaTopic",
  plural: "kafkatopics",
  shortNames: ["kt"],
  specSchema,
  immutableFields: ["topicName"],
  config: [kafkaConfig],
  declare: ({ name, spec }, context) =>
    onAdmin(context, (admin) => declareTopic(admin, spec.topicName ?? name, spec)),
  remove: ({ name, spec }, context) =>
    onAdmin(context, async (admin) => {
      const topic = spec.topicName ?? name;
      if ((await admin.listTopics()).includes(topic)) await admin.deleteTopics({ topics: [topic] });
    }),
});
