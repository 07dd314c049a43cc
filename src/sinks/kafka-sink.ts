import { Kafka, logLevel, type KafkaConfig, type Message, type Producer, type SASLOptions } from "kafkajs";
import { aliasedServers, aliasHint } from "../../adapters/kafka/aliases.js";
import { toKafkaMessage } from "../../adapters/kafka/binding.js";
import type { CloudEvent } from "../events/event.js";
import { toStructuredJson } from "../events/http.js";
import type { Resource } from "../resources/common.js";
import type { KafkaSinkSpec } from "../resources/kafka-sink.js";
import { coreKinds } from "../resources/kinds.js";
import { ConditionSet, type ConditionInput } from "../control/conditions.js";
import type { SinkReconcilerDeps } from "./event-transform.js";

export type KafkaSinkResource = Resource<"KafkaSink", KafkaSinkSpec>;

/** eventing.knative.dev KafkaSink (eventing-kafka-broker's conditions, those Herald has). */
export const kafkaSinkConditions = new ConditionSet("TopicReady", "Addressable");

/** A failed connection is tried again after this long, on the next reconcile pass. */
const RETRY_AFTER_MS = 10_000;

interface SinkRuntime {
  readonly configJson: string;
  state: "connecting" | "ready" | "failed";
  message?: string | undefined;
  failedAt?: number | undefined;
  readonly kafka: Kafka;
  readonly producer: Producer;
}

/** CloudEvents Kafka binding 3.3, structured mode: the event in the JSON format, `partitionkey` as key. */
function structuredMessage(event: CloudEvent): Message {
  const key = event.attributes.partitionkey;
  return {
    key: key === undefined ? null : String(key),
    value: JSON.stringify(toStructuredJson(event)),
    headers: { "content-type": "application/cloudevents+json; charset=UTF-8" },
  };
}

/**
 * eventing.knative.dev KafkaSink: addressable at `/sinks/kafkasinks/{namespace}/{name}` once its
 * producer is connected and its topic exists (created when numPartitions and replicationFactor are
 * set); each event posted is answered 202 once Kafka acknowledged it (all in-sync replicas), 503
 * when Kafka did not take it.
 */
export class KafkaSinkReconciler {
  private readonly runtimes = new Map<string, SinkRuntime>();
  private static readonly PLURAL = coreKinds.kafkaSink.plural;

  constructor(
    private readonly deps: SinkReconcilerDeps & {
      onStatusChange(): void;
      /** Kafka addresses manifests name, mapped to this machine's (HERALD_KAFKA_BOOTSTRAP_ALIASES). */
      kafkaBootstrapAliases?: Readonly<Record<string, string>> | undefined;
    },
  ) {}

  async reconcile(): Promise<void> {
    const { store, status } = this.deps;
    const plural = KafkaSinkReconciler.PLURAL;
    const seen = new Set<string>();
    for (const resource of store.list(coreKinds.kafkaSink)) {
      const { namespace, name } = resource.metadata;
      const key = `${namespace}/${name}`;
      seen.add(key);
      const topic = await this.run(resource, key);
      const ready = topic.status === "True";
      const url = `${this.deps.baseUrl()}/sinks/${plural}/${namespace}/${name}`;
      status.set(resource, {
        ...(ready
          ? {
              address: this.deps.endpoints.address(plural, namespace, name, url),
              addresses: [this.deps.endpoints.address(plural, namespace, name, url)],
            }
          : {}),
        conditions: status.conditions(resource, [
          topic,
          ready
            ? kafkaSinkConditions.markTrue("Addressable")
            : kafkaSinkConditions.markFalse("Addressable", "TopicNotReady"),
        ]),
      });
    }
    for (const key of [...this.runtimes.keys()]) if (!seen.has(key)) await this.stop(key);
  }

  async close(): Promise<void> {
    for (const key of [...this.runtimes.keys()]) await this.stop(key);
  }

  private async run(resource: KafkaSinkResource, key: string): Promise<ConditionInput> {
    const { spec } = resource;
    const config = this.clientConfig(resource);
    if (typeof config === "string") {
      await this.stop(key);
      return kafkaSinkConditions.markFalse("TopicReady", "AuthSecretInvalid", config);
    }
    const configJson = JSON.stringify({ config, spec });
    let runtime = this.runtimes.get(key);
    const retry = runtime?.state === "failed" && Date.now() - (runtime.failedAt ?? 0) > RETRY_AFTER_MS;
    if (!runtime || runtime.configJson !== configJson || retry) {
      await this.stop(key);
      const kafka = new Kafka(config);
      runtime = {
        configJson,
        state: "connecting",
        kafka,
        producer: kafka.producer({ allowAutoTopicCreation: false }),
      };
      this.runtimes.set(key, runtime);
      void this.connect(resource, key, runtime);
    }
    if (runtime.state === "connecting")
      return kafkaSinkConditions.markUnknown(
        "TopicReady",
        "Connecting",
        `connecting to ${spec.bootstrapServers.join(", ")}`,
      );
    if (runtime.state === "failed")
      return kafkaSinkConditions.markFalse("TopicReady", "TopicNotPresentOrInvalid", runtime.message);
    return kafkaSinkConditions.markTrue("TopicReady");
  }

  /** Checks or creates the topic and connects the producer, in the background of the reconcile pass. */
  private async connect(resource: KafkaSinkResource, key: string, runtime: SinkRuntime): Promise<void> {
    const { spec } = resource;
    const { namespace, name } = resource.metadata;
    const admin = runtime.kafka.admin();
    try {
      await admin.connect();
      const topics = await admin.listTopics();
      if (!topics.includes(spec.topic)) {
        if (spec.numPartitions === undefined || spec.replicationFactor === undefined)
          throw new Error(
            `topic ${spec.topic} does not exist; create it, or set numPartitions and replicationFactor so Herald creates it`,
          );
        await admin.createTopics({
          waitForLeaders: true,
          topics: [
            {
              topic: spec.topic,
              numPartitions: spec.numPartitions,
              replicationFactor: spec.replicationFactor,
            },
          ],
        });
      }
      await runtime.producer.connect();
      if (this.runtimes.get(key) !== runtime) return;
      runtime.state = "ready";
      const toMessage = spec.contentMode === "structured" ? structuredMessage : toKafkaMessage;
      this.deps.endpoints.set(KafkaSinkReconciler.PLURAL, namespace, name, async (event) => {
        try {
          await runtime.producer.send({ topic: spec.topic, acks: -1, messages: [toMessage(event)] });
          return { status: 202 };
        } catch (error) {
          this.deps.logger.warn({ kafkaSink: key, err: error }, "producing an event failed");
          return { status: 503, message: `Kafka did not take the event: ${(error as Error).message}` };
        }
      });
    } catch (error) {
      if (this.runtimes.get(key) !== runtime) return;
      runtime.state = "failed";
      runtime.failedAt = Date.now();
      const { message } = error as Error;
      const hint = /ENOTFOUND|EAI_AGAIN/.test(message)
        ? aliasHint(spec.bootstrapServers, this.deps.kafkaBootstrapAliases ?? {})
        : "";
      runtime.message = `${spec.bootstrapServers.join(", ")}: ${message}${hint}`;
      this.deps.logger.warn({ kafkaSink: key, err: error }, "KafkaSink not ready");
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    this.deps.onStatusChange();
  }

  private async stop(key: string): Promise<void> {
    const runtime = this.runtimes.get(key);
    if (!runtime) return;
    this.runtimes.delete(key);
    const [namespace, name] = key.split("/") as [string, string];
    this.deps.endpoints.delete(KafkaSinkReconciler.PLURAL, namespace, name);
    await runtime.producer
      .disconnect()
      .catch((error: unknown) =>
        this.deps.logger.warn({ kafkaSink: key, err: error }, "closing the KafkaSink's producer failed"),
      );
  }

  /** The client settings, with the auth Secret's (Knative's keys); a string says what is wrong. */
  private clientConfig(resource: KafkaSinkResource): KafkaConfig | string {
    const { spec } = resource;
    const base: KafkaConfig = {
      clientId: `herald-kafkasink-${resource.metadata.name}`,
      brokers: aliasedServers(spec.bootstrapServers, this.deps.kafkaBootstrapAliases ?? {}),
      connectionTimeout: 3_000,
      requestTimeout: 10_000,
      logLevel: logLevel.NOTHING,
      retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2_000 },
    };
    if (!spec.auth) return base;
    const secretName = spec.auth.secret.ref.name;
    const secret = this.deps.store.get(coreKinds.secret, resource.metadata.namespace, secretName);
    if (!secret)
      return `spec.auth.secret.ref.name: Secret ${resource.metadata.namespace}/${secretName} not found`;
    const value = (name: string) => {
      const encoded = secret.spec[name];
      return encoded === undefined ? undefined : Buffer.from(encoded, "base64").toString("utf8");
    };
    const protocol = (value("protocol") ?? "PLAINTEXT").toUpperCase();
    if (!["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"].includes(protocol))
      return `Secret ${secretName}: protocol ${protocol} is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL`;
    const tls = protocol.endsWith("SSL");
    const ca = value("ca.crt");
    const cert = value("user.crt");
    const key = value("user.key");
    const config: KafkaConfig = {
      ...base,
      ...(tls
        ? { ssl: ca || cert ? { ...(ca ? { ca: [ca] } : {}), ...(cert && key ? { cert, key } : {}) } : true }
        : {}),
    };
    if (!protocol.startsWith("SASL")) return config;
    const mechanism = (value("sasl.mechanism") ?? "PLAIN").toLowerCase();
    const username = value("user");
    const password = value("password");
    if (!username || !password) return `Secret ${secretName}: SASL needs the keys user and password`;
    let sasl: SASLOptions;
    if (mechanism === "plain") sasl = { mechanism, username, password };
    else if (mechanism === "scram-sha-256") sasl = { mechanism, username, password };
    else if (mechanism === "scram-sha-512") sasl = { mechanism, username, password };
    else
      return `Secret ${secretName}: sasl.mechanism ${mechanism} is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512`;
    return { ...config, sasl };
  }
}
