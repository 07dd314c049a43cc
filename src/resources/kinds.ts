import { z } from "zod";
import { deliverySpecSchema } from "./common.js";
import { brokerSpecSchema, configMapDataSchema, secretDataSchema, triggerSpecSchema } from "./eventing.js";
import { channelSpecSchema, inMemoryChannelSpecSchema, subscriptionSpecSchema } from "./messaging.js";
import { kafkaChannelSpecSchema } from "./kafka-channel.js";
import { pubsubChannelSpecSchema } from "./pubsub-channel.js";
import { rabbitmqChannelSpecSchema } from "./rabbitmq-channel.js";

/**
 * What Herald does with a kind: a backing channel runs on a channel adapter; a Channel is the
 * generic channel that materialises a backing channel from its channelTemplate.
 */
export type KindRole =
  "backing-channel" | "channel" | "subscription" | "broker" | "trigger" | "source" | "config";

export interface KindDefinition {
  readonly group: string;
  /** Served versions; the first is the one stored and returned. */
  readonly versions: readonly string[];
  readonly kind: string;
  readonly plural: string;
  readonly shortNames: readonly string[];
  readonly role: KindRole;
  readonly specSchema: z.ZodType<Record<string, unknown>>;
  /** The manifest field holding the spec: `spec`, or `data` for a ConfigMap. */
  readonly specField?: "spec" | "data";
}

/** Adds Knative's `spec.delivery` to a backend-specific channel spec (ChannelableSpec). */
function channelable(schema: z.ZodObject): z.ZodType<Record<string, unknown>> {
  return schema.extend({ delivery: deliverySpecSchema.optional() }) as unknown as z.ZodType<
    Record<string, unknown>
  >;
}

const registry: KindDefinition[] = [];

export function registerKind(definition: KindDefinition): void {
  registry.push(definition);
}

export function allKinds(): readonly KindDefinition[] {
  return registry;
}

export function apiVersionOf(definition: KindDefinition): string {
  return definition.group ? `${definition.group}/${definition.versions[0]}` : definition.versions[0]!;
}

/** Finds a kind by apiVersion + kind, as written in a manifest. */
export function kindFor(apiVersion: string, kind: string): KindDefinition | undefined {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  return registry.find((d) => d.kind === kind && d.group === group && d.versions.includes(version ?? ""));
}

/** Finds a kind by API path segments. */
export function kindForPath(group: string, version: string, plural: string): KindDefinition | undefined {
  return registry.find((d) => d.group === group && d.plural === plural && d.versions.includes(version));
}

/** Finds a kind by any name a user may type: Kind, plural, singular or short name (case-insensitive). */
export function kindByName(name: string): KindDefinition | undefined {
  const wanted = name.toLowerCase();
  return registry.find(
    (d) =>
      d.kind.toLowerCase() === wanted ||
      d.plural === wanted ||
      d.shortNames.includes(wanted) ||
      `${d.plural}.${d.group}` === wanted,
  );
}

registerKind({
  group: "messaging.knative.dev",
  versions: ["v1"],
  kind: "Channel",
  plural: "channels",
  shortNames: ["ch", "channel"],
  role: "channel",
  specSchema: channelSpecSchema as z.ZodType<Record<string, unknown>>,
});
registerKind({
  group: "messaging.knative.dev",
  versions: ["v1"],
  kind: "InMemoryChannel",
  plural: "inmemorychannels",
  shortNames: ["imc", "inmemorychannel"],
  role: "backing-channel",
  specSchema: channelable(inMemoryChannelSpecSchema),
});
registerKind({
  group: "messaging.knative.dev",
  versions: ["v1beta1"],
  kind: "KafkaChannel",
  plural: "kafkachannels",
  shortNames: ["kc", "kafkachannel"],
  role: "backing-channel",
  specSchema: channelable(kafkaChannelSpecSchema),
});
registerKind({
  group: "messaging.herald.dev",
  versions: ["v1alpha1"],
  kind: "RabbitmqChannel",
  plural: "rabbitmqchannels",
  shortNames: ["rmqc", "rabbitmqchannel"],
  role: "backing-channel",
  specSchema: channelable(rabbitmqChannelSpecSchema),
});
registerKind({
  group: "messaging.herald.dev",
  versions: ["v1alpha1"],
  kind: "PubSubChannel",
  plural: "pubsubchannels",
  shortNames: ["psc", "pubsubchannel"],
  role: "backing-channel",
  specSchema: channelable(pubsubChannelSpecSchema),
});
registerKind({
  group: "messaging.knative.dev",
  versions: ["v1"],
  kind: "Subscription",
  plural: "subscriptions",
  shortNames: ["sub", "subscription"],
  role: "subscription",
  specSchema: subscriptionSpecSchema as z.ZodType<Record<string, unknown>>,
});
registerKind({
  group: "eventing.knative.dev",
  versions: ["v1"],
  kind: "Broker",
  plural: "brokers",
  shortNames: ["broker", "brokers"],
  role: "broker",
  specSchema: brokerSpecSchema as z.ZodType<Record<string, unknown>>,
});
registerKind({
  group: "eventing.knative.dev",
  versions: ["v1"],
  kind: "Trigger",
  plural: "triggers",
  shortNames: ["trigger"],
  role: "trigger",
  specSchema: triggerSpecSchema as z.ZodType<Record<string, unknown>>,
});
registerKind({
  group: "",
  versions: ["v1"],
  kind: "ConfigMap",
  plural: "configmaps",
  shortNames: ["cm", "configmap"],
  role: "config",
  specSchema: configMapDataSchema,
  specField: "data",
});
registerKind({
  group: "",
  versions: ["v1"],
  kind: "Secret",
  plural: "secrets",
  shortNames: ["secret"],
  role: "config",
  specSchema: secretDataSchema,
  specField: "data",
});
