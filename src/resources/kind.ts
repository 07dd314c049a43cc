import type { z } from "zod";

/**
 * What Herald does with a kind: a backing channel runs on a channel adapter; a Channel is the
 * generic channel that materialises a backing channel from its channelTemplate.
 */
export type KindRole =
  | "backing-channel"
  | "channel"
  | "subscription"
  | "broker"
  | "trigger"
  | "source"
  | "config"
  /** Sequence, Parallel: made of channels and subscriptions, addressable at their first channel. */
  | "flow"
  /** EventTransform, JobSink, KafkaSink: addressable, answering events at Herald's /sinks/ path. */
  | "sink"
  /** EventType: a catalogue entry, neither run nor addressable. */
  | "registry";

/** The names a kind is known by, as a Kubernetes CRD declares them. */
export interface KindNames {
  /** API group, e.g. "messaging.knative.dev" ("" for core kinds such as ConfigMap). */
  readonly group: string;
  /** Served versions; the first is the one stored and returned. */
  readonly versions: readonly string[];
  readonly kind: string;
  readonly plural: string;
  readonly shortNames: readonly string[];
  /**
   * Applying or deleting a resource of the kind needs the API's `admin` role, because it runs code
   * on Herald's host (ProcessSource); `write` is enough for every other kind.
   */
  readonly privileged?: boolean | undefined;
}

export interface KindDefinition<
  Spec = Record<string, unknown>,
  Kind extends string = string,
> extends KindNames {
  readonly kind: Kind;
  readonly role: KindRole;
  /** Validates and defaults the spec; run once at apply, never per event. */
  readonly specSchema: z.ZodType<Spec>;
  /**
   * Where a manifest holds what is stored as the spec: `spec`; `data` for a ConfigMap; `top-level`
   * for a Secret, whose `data`, `stringData` and `type` are validated together into its data. A kind
   * without `spec` is served with its stored data as `data`, as Kubernetes shows it. `fields` for a
   * core Event: its top-level fields are validated into the spec and served at the top level again.
   */
  readonly specField?: "spec" | "data" | "top-level" | "fields";
  /** Cluster-scoped, as a Namespace: its metadata.namespace is ignored and stored empty. */
  readonly clusterScoped?: boolean;
  /** Spec fields that cannot change once applied: such an apply is refused naming the field. */
  readonly immutableFields?: readonly string[];
}
