import type { z } from "zod";
import { deliverySpecSchema, type Resource } from "./common.js";
import {
  brokerSpecSchema,
  configMapDataSchema,
  namespaceSpecSchema,
  secretSchema,
  triggerSpecSchema,
  type BrokerSpec,
  type TriggerSpec,
} from "./eventing.js";
import { coreEventSchema } from "./core-event.js";
import { eventTransformSpecSchema } from "./event-transform.js";
import { eventTypeSpecSchema } from "./event-type.js";
import { parallelSpecSchema, sequenceSpecSchema } from "./flows.js";
import { integrationSinkSpecSchema } from "./integration-sink.js";
import { jobSinkSpecSchema } from "./job-sink.js";
import { kafkaSinkSpecSchema } from "./kafka-sink.js";
import type { KindDefinition, KindNames, KindRole } from "./kind.js";
import { sinkMappingSpecSchema, type SinkMappingSpec } from "./sinks.js";
import { eventPolicySpecSchema, type EventPolicySpec } from "./policy.js";
import {
  channelSpecSchema,
  subscriptionSpecSchema,
  type ChannelSpec,
  type SubscriptionSpec,
} from "./messaging.js";

export type { KindDefinition, KindNames, KindRole } from "./kind.js";

/** The kinds Herald itself serves; backends and sources add theirs through plug-ins. */
export const coreKinds = {
  channel: {
    group: "messaging.knative.dev",
    versions: ["v1"],
    kind: "Channel",
    plural: "channels",
    shortNames: ["ch", "channel"],
    role: "channel",
    specSchema: channelSpecSchema,
  },
  subscription: {
    group: "messaging.knative.dev",
    versions: ["v1"],
    kind: "Subscription",
    plural: "subscriptions",
    shortNames: ["sub", "subscription"],
    role: "subscription",
    specSchema: subscriptionSpecSchema,
  },
  broker: {
    group: "eventing.knative.dev",
    versions: ["v1"],
    kind: "Broker",
    plural: "brokers",
    shortNames: ["broker", "brokers"],
    role: "broker",
    specSchema: brokerSpecSchema,
  },
  trigger: {
    group: "eventing.knative.dev",
    versions: ["v1"],
    kind: "Trigger",
    plural: "triggers",
    shortNames: ["trigger"],
    role: "trigger",
    specSchema: triggerSpecSchema,
  },
  configMap: {
    group: "",
    versions: ["v1"],
    kind: "ConfigMap",
    plural: "configmaps",
    shortNames: ["cm", "configmap"],
    role: "config",
    specSchema: configMapDataSchema,
    specField: "data",
  },
  secret: {
    group: "",
    versions: ["v1"],
    kind: "Secret",
    plural: "secrets",
    shortNames: ["secret"],
    role: "config",
    specSchema: secretSchema,
    specField: "top-level",
  },
  /** Kubernetes' core Event: what Herald records about its resources (control/event-recorder.ts). */
  event: {
    group: "",
    versions: ["v1"],
    kind: "Event",
    plural: "events",
    shortNames: ["ev", "event"],
    role: "config",
    specSchema: coreEventSchema,
    specField: "fields",
  },
  namespace: {
    group: "",
    versions: ["v1"],
    kind: "Namespace",
    plural: "namespaces",
    shortNames: ["ns", "namespace"],
    role: "config",
    specSchema: namespaceSpecSchema,
    clusterScoped: true,
  },
  sinkMapping: {
    group: "messaging.herald.dev",
    versions: ["v1alpha1"],
    kind: "SinkMapping",
    plural: "sinkmappings",
    shortNames: ["sinkmapping"],
    role: "config",
    specSchema: sinkMappingSpecSchema,
  },
  sequence: {
    group: "flows.knative.dev",
    versions: ["v1"],
    kind: "Sequence",
    plural: "sequences",
    shortNames: ["sequence"],
    role: "flow",
    specSchema: sequenceSpecSchema,
  },
  parallel: {
    group: "flows.knative.dev",
    versions: ["v1"],
    kind: "Parallel",
    plural: "parallels",
    shortNames: ["parallel"],
    role: "flow",
    specSchema: parallelSpecSchema,
  },
  eventTransform: {
    group: "eventing.knative.dev",
    versions: ["v1alpha1"],
    kind: "EventTransform",
    plural: "eventtransforms",
    shortNames: ["eventtransform", "et"],
    role: "sink",
    specSchema: eventTransformSpecSchema,
  },
  jobSink: {
    group: "sinks.knative.dev",
    versions: ["v1alpha1"],
    kind: "JobSink",
    plural: "jobsinks",
    shortNames: ["jobsink"],
    // It runs commands on Herald's host, as ProcessSource: applying one needs the API's admin role.
    privileged: true,
    role: "sink",
    specSchema: jobSinkSpecSchema,
  },
  kafkaSink: {
    group: "eventing.knative.dev",
    versions: ["v1alpha1"],
    kind: "KafkaSink",
    plural: "kafkasinks",
    shortNames: ["kafkasink", "ks"],
    role: "sink",
    specSchema: kafkaSinkSpecSchema,
  },
  integrationSink: {
    group: "sinks.knative.dev",
    versions: ["v1alpha1"],
    kind: "IntegrationSink",
    plural: "integrationsinks",
    shortNames: ["integrationsink"],
    role: "sink",
    specSchema: integrationSinkSpecSchema,
  },
  eventType: {
    group: "eventing.knative.dev",
    versions: ["v1beta3", "v1beta2", "v1beta1"],
    kind: "EventType",
    plural: "eventtypes",
    shortNames: ["eventtype", "eventtypes"],
    role: "registry",
    specSchema: eventTypeSpecSchema,
  },
  eventPolicy: {
    group: "eventing.knative.dev",
    versions: ["v1alpha1"],
    kind: "EventPolicy",
    plural: "eventpolicies",
    shortNames: ["eventpolicy", "ep"],
    role: "config",
    specSchema: eventPolicySpecSchema,
  },
} as const satisfies Record<string, KindDefinition<unknown>>;

export type CoreKinds = typeof coreKinds;

export type ChannelResource = Resource<"Channel", ChannelSpec>;
export type SubscriptionResource = Resource<"Subscription", SubscriptionSpec>;
export type BrokerResource = Resource<"Broker", BrokerSpec>;
export type TriggerResource = Resource<"Trigger", TriggerSpec>;
export type SinkMappingResource = Resource<"SinkMapping", SinkMappingSpec>;
export type EventPolicyResource = Resource<"EventPolicy", EventPolicySpec>;
export type ConfigMapResource = Resource<"ConfigMap", Record<string, string>>;
/** A Secret's spec is its data: base64 values by key (`stringData` is merged in when applied). */
export type SecretResource = Resource<"Secret", Record<string, string>>;

/** A plug-in kind: its names, role and spec schema. */
export function definitionOf(names: KindNames, role: KindRole, specSchema: z.ZodType): KindDefinition {
  return {
    group: names.group,
    versions: names.versions,
    kind: names.kind,
    plural: names.plural,
    shortNames: names.shortNames,
    ...(names.privileged ? { privileged: true } : {}),
    role,
    specSchema: specSchema as z.ZodType<Record<string, unknown>>,
  };
}

/** Adds Knative's `spec.delivery` to a backend-specific channel spec (ChannelableSpec). */
export function channelable(schema: z.ZodType): z.ZodType {
  if (!("extend" in schema) || typeof schema.extend !== "function")
    throw new Error("a channel spec schema must be a zod object");
  return (schema as unknown as z.ZodObject).extend({ delivery: deliverySpecSchema.optional() });
}

export function apiVersionOf(definition: KindNames): string {
  return definition.group ? `${definition.group}/${definition.versions[0]}` : definition.versions[0]!;
}

/**
 * The kinds one Herald instance serves, built once from the core kinds and its plug-ins. Two kinds
 * may not share a name: the registry refuses to be built rather than shadow one.
 */
export class KindRegistry {
  private readonly definitions: readonly KindDefinition[];

  constructor(extra: readonly KindDefinition[] = []) {
    const all = [...(Object.values(coreKinds) as readonly KindDefinition[]), ...extra];
    const seen = new Set<string>();
    for (const definition of all) {
      const key = `${definition.group}/${definition.kind}`;
      if (seen.has(key)) throw new Error(`kind ${key} is declared twice`);
      seen.add(key);
    }
    this.definitions = all;
  }

  all(): readonly KindDefinition[] {
    return this.definitions;
  }

  withRole(...roles: KindRole[]): KindDefinition[] {
    return this.definitions.filter((d) => roles.includes(d.role));
  }

  /** Finds a kind by apiVersion + kind, as written in a manifest. */
  find(apiVersion: string, kind: string): KindDefinition | undefined {
    const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
    return this.definitions.find(
      (d) => d.kind === kind && d.group === group && d.versions.includes(version ?? ""),
    );
  }

  /** Finds a kind by API path segments. */
  forPath(group: string, version: string, plural: string): KindDefinition | undefined {
    return this.definitions.find(
      (d) => d.group === group && d.plural === plural && d.versions.includes(version),
    );
  }

  /** Finds a kind by any name a user may type: Kind, plural, singular or short name (case-insensitive). */
  byName(name: string): KindDefinition | undefined {
    const wanted = name.toLowerCase();
    return this.definitions.find(
      (d) =>
        d.kind.toLowerCase() === wanted ||
        d.plural === wanted ||
        d.shortNames.includes(wanted) ||
        `${d.plural}.${d.group}` === wanted,
    );
  }

  /** The backing-channel kind with this Kind name (any group), e.g. the default channel kind. */
  backingChannel(kind: string): KindDefinition | undefined {
    return this.definitions.find((d) => d.kind === kind && d.role === "backing-channel");
  }
}
