import type { z } from "zod";

/**
 * What Herald does with a kind: a backing channel runs on a channel adapter; a Channel is the
 * generic channel that materialises a backing channel from its channelTemplate.
 */
export type KindRole =
  "backing-channel" | "channel" | "subscription" | "broker" | "trigger" | "source" | "config";

/** The names a kind is known by, as a Kubernetes CRD declares them. */
export interface KindNames {
  /** API group, e.g. "messaging.knative.dev" ("" for core kinds such as ConfigMap). */
  readonly group: string;
  /** Served versions; the first is the one stored and returned. */
  readonly versions: readonly string[];
  readonly kind: string;
  readonly plural: string;
  readonly shortNames: readonly string[];
}

export interface KindDefinition<
  Spec = Record<string, unknown>,
  Kind extends string = string,
> extends KindNames {
  readonly kind: Kind;
  readonly role: KindRole;
  /** Validates and defaults the spec; run once at apply, never per event. */
  readonly specSchema: z.ZodType<Spec>;
  /** The manifest field holding the spec: `spec`, or `data` for a ConfigMap. */
  readonly specField?: "spec" | "data";
}
