import { parse as parseYaml } from "yaml";
import type { CloudEvent } from "../events/event.js";
import { withAttributes } from "../events/event.js";
import {
  rabbitmqBrokerConfigKind,
  rabbitmqClusterKind,
  type RabbitmqBrokerConfigSpec,
} from "../resources/broker-configs.js";
import { BROKER_CLASS_ANNOTATION } from "../resources/eventing.js";
import { coreKinds, type BrokerResource } from "../resources/kinds.js";
import type { ResourceStore } from "./store.js";

/** Knative's broker TTL extension: hops left before a reply loop is cut off. */
export const TTL_ATTRIBUTE = "knativebrokerttl";
export const DEFAULT_TTL = 255;

/** The Kafka Herald runs Kafka Brokers on: its servers, and the addresses manifests name for them. */
export interface KafkaServers {
  readonly bootstrapServers: readonly string[];
  /** HERALD_KAFKA_BOOTSTRAP_ALIASES: an address a manifest writes → the server it stands for. */
  readonly aliases: Readonly<Record<string, string>>;
}

export interface ChannelTemplate {
  apiVersion: string;
  kind: string;
  spec?: Record<string, unknown> | undefined;
}

/** The name of a Broker's backing channel, as Knative's channel-based broker names it. */
export function brokerChannelName(broker: string): string {
  return `${broker}-kne-trigger`;
}

/** The namespace of a Knative install, where the ConfigMaps it ships live. */
const KNATIVE_NAMESPACE = "knative-eventing";
/** Knative's channel-based broker default (the install's default channel kind). */
const DEFAULT_CHANNEL_CONFIG = "config-br-default-channel";
/** The Kafka broker's default configuration, shipped by eventing-kafka-broker. */
const KAFKA_BROKER_CONFIG = "kafka-broker-config";
/** The Kafka broker's ConfigMap keys (eventing-kafka-broker's `kafka-broker-config`). */
const KAFKA_KEYS = {
  bootstrapServers: "bootstrap.servers",
  partitions: "default.topic.partitions",
  replicationFactor: "default.topic.replication.factor",
  retentionMs: "default.topic.config.retention.ms",
} as const;
/** The broker classes whose Brokers run on the Kafka and RabbitMQ channel plug-ins. */
const KAFKA_CLASS = "Kafka";
/**
 * Partitions of a Kafka Broker's topic when its config does not say: the `default.topic.partitions`
 * of the `kafka-broker-config` ConfigMap Knative's Kafka broker ships, which a Broker without
 * spec.config gets.
 */
export const KAFKA_BROKER_DEFAULT_PARTITIONS = 10;
const RABBITMQ_CLASS = "RabbitMQBroker";
/** eventing-kafka-broker's annotation naming a topic the Broker uses instead of one of its own. */
export const EXTERNAL_TOPIC_ANNOTATION = "kafka.eventing.knative.dev/external.topic";

/**
 * The channel a Broker runs on: from `spec.config`, else from the broker class annotation, else the
 * default channel kind. `spec.config` may reference
 * - a ConfigMap with `channel-template-spec`, as Knative's MTChannelBasedBroker reads it;
 * - a ConfigMap in the Kafka broker's shape (`default.topic.partitions`,
 *   `default.topic.replication.factor`, `default.topic.config.retention.ms`, `bootstrap.servers`,
 *   which must name the Kafka Herald runs Brokers on): a KafkaChannel with those settings;
 * - a ConfigMap a Knative install ships in `knative-eventing` that was not applied:
 *   `config-br-default-channel` is the default channel kind, `kafka-broker-config` a KafkaChannel
 *   with its defaults;
 * - a RabbitmqBrokerConfig: a RabbitmqChannel with its `queueType`, once the RabbitmqCluster it
 *   names exists;
 * - a RabbitmqCluster (eventing-rabbitmq's deprecated form, still served): a RabbitmqChannel with
 *   classic queues, once that RabbitmqCluster exists.
 * Returns an error message, naming the field or resource, when the configuration cannot be used.
 */
export function brokerChannelTemplate(
  store: ResourceStore,
  broker: BrokerResource,
  classes: ReadonlyMap<string, ChannelTemplate>,
  fallback: ChannelTemplate,
  /** The Kafka Herald's KafkaChannel connects to, when known (HERALD_KAFKA_BOOTSTRAP_SERVERS). */
  kafkaServers?: KafkaServers,
): ChannelTemplate | string {
  const { spec } = broker;
  const { [EXTERNAL_TOPIC_ANNOTATION]: externalTopic, ...annotations } = broker.metadata.annotations ?? {};
  if (externalTopic !== undefined) {
    // eventing-kafka-broker: the Broker runs on that existing topic, never created nor deleted.
    const at = `metadata.annotations[${EXTERNAL_TOPIC_ANNOTATION}]`;
    const template = brokerChannelTemplate(
      store,
      { ...broker, metadata: { ...broker.metadata, annotations } },
      classes,
      fallback,
      kafkaServers,
    );
    if (typeof template === "string") return template;
    const kafka = classes.get(KAFKA_CLASS);
    if (!kafka || template.kind !== kafka.kind || template.apiVersion !== kafka.apiVersion)
      return `${at}: only a Broker of class ${KAFKA_CLASS} runs on an external topic (this one runs on a ${template.kind})`;
    if (!externalTopic) return `${at}: must name a topic`;
    return { ...template, spec: { ...template.spec, externalTopic } };
  }
  if (spec.config) {
    const namespace = spec.config.namespace ?? broker.metadata.namespace;
    const what = `${spec.config.kind} ${namespace}/${spec.config.name}`;
    if (spec.config.kind === rabbitmqBrokerConfigKind.kind) {
      const config = store.get(rabbitmqBrokerConfigKind, namespace, spec.config.name);
      if (!config) return `spec.config: ${what} not found`;
      return rabbitmqTemplate(
        store,
        config.spec,
        namespace,
        classes,
        "RabbitmqBrokerConfig spec.rabbitmqClusterReference",
      );
    }
    if (spec.config.kind === rabbitmqClusterKind.kind) {
      // eventing-rabbitmq's older form (pkg/brokerconfig/service.go): the cluster itself, classic queues.
      const config = {
        rabbitmqClusterReference: { name: spec.config.name, namespace },
        queueType: "classic",
      } as const;
      return rabbitmqTemplate(store, config, namespace, classes, "spec.config");
    }
    if (spec.config.kind !== "ConfigMap")
      return `spec.config: kind ${spec.config.kind} is not supported (use a ConfigMap, a RabbitmqBrokerConfig or a RabbitmqCluster)`;
    const configMap = store.get(coreKinds.configMap, namespace, spec.config.name);
    if (!configMap) {
      if (namespace === KNATIVE_NAMESPACE && spec.config.name === DEFAULT_CHANNEL_CONFIG) return fallback;
      if (namespace === KNATIVE_NAMESPACE && spec.config.name === KAFKA_BROKER_CONFIG)
        return kafkaTemplate({}, what, classes, kafkaServers);
      return `spec.config: ${what} not found`;
    }
    const text = configMap.spec["channel-template-spec"];
    if (text === undefined) {
      if (Object.values(KAFKA_KEYS).some((key) => configMap.spec[key] !== undefined))
        return kafkaTemplate(configMap.spec, what, classes, kafkaServers);
      return `spec.config: ${what} has no channel-template-spec (nor the Kafka broker's default.topic.* keys)`;
    }
    try {
      const template = parseYaml(text) as ChannelTemplate;
      if (!template?.apiVersion || !template.kind) return "channel-template-spec needs apiVersion and kind";
      return template;
    } catch (error) {
      return `channel-template-spec is not valid YAML: ${(error as Error).message}`;
    }
  }
  const brokerClass = broker.metadata.annotations?.[BROKER_CLASS_ANNOTATION];
  if (brokerClass === KAFKA_CLASS && classes.has(KAFKA_CLASS))
    return kafkaTemplate({}, "the Kafka broker's default config", classes, kafkaServers);
  return (brokerClass && classes.get(brokerClass)) || fallback;
}

/**
 * Whether the Broker is one of eventing-rabbitmq's (its class, or a RabbitmqBrokerConfig): its
 * Triggers deliver in order, one at a time, unless their parallelism annotation says otherwise.
 */
export function isRabbitmqBroker(broker: BrokerResource): boolean {
  return (
    broker.metadata.annotations?.[BROKER_CLASS_ANNOTATION] === RABBITMQ_CLASS ||
    broker.spec.config?.kind === rabbitmqBrokerConfigKind.kind ||
    broker.spec.config?.kind === rabbitmqClusterKind.kind
  );
}

/** A KafkaChannel from the Kafka broker's ConfigMap keys; a message naming the key when one is wrong. */
function kafkaTemplate(
  data: Record<string, string>,
  what: string,
  classes: ReadonlyMap<string, ChannelTemplate>,
  servers: KafkaServers | undefined,
): ChannelTemplate | string {
  const kafka = classes.get(KAFKA_CLASS);
  if (!kafka) return "spec.config: no channel plug-in serves the Kafka broker class";
  const known = new Set<string>(Object.values(KAFKA_KEYS));
  const unknown = Object.keys(data).filter((key) => !known.has(key));
  if (unknown.length > 0)
    return `${what}: ${unknown.join(", ")} not supported (Herald's Kafka Broker reads ${[...known].join(", ")})`;
  const asked = data[KAFKA_KEYS.bootstrapServers];
  if (asked !== undefined && servers) {
    // An address the docs write (my-cluster-kafka-bootstrap.kafka:9092) counts as the server it is an alias of.
    const named = asked
      .split(",")
      .map((server) => server.trim())
      .filter(Boolean)
      .map((server) => servers.aliases[server] ?? server)
      .sort();
    const own = [...servers.bootstrapServers].sort();
    if (named.join(",") !== own.join(","))
      return (
        `${what}: bootstrap.servers ${asked} is not the Kafka Herald runs Brokers on ` +
        `(HERALD_KAFKA_BOOTSTRAP_SERVERS=${own.join(",")}); set it to that, alias it to that ` +
        "(HERALD_KAFKA_BOOTSTRAP_ALIASES), or remove the key"
      );
  }
  const spec: Record<string, unknown> = {};
  const positive = (key: string): number | string | undefined => {
    const value = data[key];
    if (value === undefined) return undefined;
    return /^\d+$/.test(value.trim()) && Number(value) > 0
      ? Number(value)
      : `${what}: ${key} must be a positive integer, not "${value}"`;
  };
  const partitions = positive(KAFKA_KEYS.partitions);
  const replicationFactor = positive(KAFKA_KEYS.replicationFactor);
  const retentionMs = positive(KAFKA_KEYS.retentionMs);
  for (const value of [partitions, replicationFactor, retentionMs])
    if (typeof value === "string") return value;
  spec.numPartitions = partitions ?? KAFKA_BROKER_DEFAULT_PARTITIONS;
  if (replicationFactor !== undefined) spec.replicationFactor = replicationFactor;
  if (retentionMs !== undefined) spec.retentionDuration = `PT${Number(retentionMs) / 1000}S`;
  return { ...kafka, spec };
}

/**
 * A RabbitmqChannel from a RabbitmqBrokerConfig (or the one a RabbitmqCluster config stands for). Herald has one RabbitMQ connection
 * (HERALD_RABBITMQ_URL): a RabbitmqCluster resource stands for it, so a reference by name resolves
 * once that RabbitmqCluster is applied; a connectionSecret (a connection of the Broker's own) cannot
 * be honoured and is refused with the reason.
 */
function rabbitmqTemplate(
  store: ResourceStore,
  config: RabbitmqBrokerConfigSpec,
  namespace: string,
  classes: ReadonlyMap<string, ChannelTemplate>,
  /** Where the cluster reference was written, for the not-found message. */
  field: string,
): ChannelTemplate | string {
  const rabbitmq = classes.get(RABBITMQ_CLASS);
  if (!rabbitmq) return "spec.config: no channel plug-in serves the RabbitMQBroker class";
  const reference = config.rabbitmqClusterReference;
  if (reference.connectionSecret)
    return (
      "RabbitmqBrokerConfig spec.rabbitmqClusterReference.connectionSecret: a Broker connects with " +
      "Herald's RabbitMQ connection (HERALD_RABBITMQ_URL), not a connection of its own; reference a " +
      "RabbitmqCluster by name instead"
    );
  const clusterNamespace = reference.namespace ?? namespace;
  if (!store.get(rabbitmqClusterKind, clusterNamespace, reference.name!))
    return (
      `${field}: RabbitmqCluster ${clusterNamespace}/${reference.name} ` +
      "not found (apply it: a RabbitmqCluster stands for Herald's RabbitMQ connection, HERALD_RABBITMQ_URL)"
    );
  return { ...rabbitmq, spec: { queueType: config.queueType } };
}

/** An event's hop count: its `knativebrokerttl` as an integer; undefined when absent or not an integer. */
function ttlOf(event: CloudEvent): number | undefined {
  if (!Object.hasOwn(event.attributes, TTL_ATTRIBUTE)) return undefined;
  const value = Number(event.attributes[TTL_ATTRIBUTE]);
  return Number.isInteger(value) ? value : undefined;
}

/**
 * Broker ingress: every event entering the broker carries a TTL (Knative sets 255 when absent). A
 * client cannot lengthen a reply loop: a TTL above 255, or one that is not an integer, becomes 255.
 */
export function withTtl(events: readonly CloudEvent[]): CloudEvent[] {
  return events.map((event) => {
    const ttl = ttlOf(event);
    return ttl !== undefined && ttl <= DEFAULT_TTL
      ? event
      : withAttributes(event, { [TTL_ATTRIBUTE]: DEFAULT_TTL });
  });
}

/**
 * Channel ingress: an event keeps the TTL it carries, if any, but never above 255, so the hop limit
 * of Subscription replies (`replyWithTtl`) holds whatever a client sends.
 */
export function limitTtl(events: readonly CloudEvent[]): readonly CloudEvent[] {
  let limited: CloudEvent[] | undefined;
  events.forEach((event, index) => {
    if (!Object.hasOwn(event.attributes, TTL_ATTRIBUTE)) return;
    const ttl = ttlOf(event);
    if (ttl !== undefined && ttl <= DEFAULT_TTL) return;
    limited ??= [...events];
    limited[index] = withAttributes(event, { [TTL_ATTRIBUTE]: DEFAULT_TTL });
  });
  return limited ?? events;
}

/**
 * A reply (from a Trigger's or a Subscription's subscriber) carries one hop less than the event that
 * caused it, counting from 255 when that event carried none; at zero it is dropped, which cuts off
 * reply loops through Brokers and Channels alike.
 */
export function replyWithTtl(reply: CloudEvent, original: CloudEvent): CloudEvent | undefined {
  const ttl = Math.min(ttlOf(original) ?? DEFAULT_TTL, DEFAULT_TTL) - 1;
  if (!(ttl > 0)) return undefined;
  return withAttributes(reply, { [TTL_ATTRIBUTE]: ttl });
}
