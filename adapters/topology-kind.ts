import type { Logger } from "pino";
import type { z } from "zod";
import type { ConfigSlice } from "../src/config-slice.js";
import type { KindNames } from "../src/resources/kind.js";

/**
 * The contract of a kind a channel plug-in declares on its backend besides its channels: RabbitMQ's
 * Queue, Exchange and Binding (the messaging topology operator's kinds). A plug-in lists them in
 * `ChannelPlugin.topologyKinds`; Herald serves each kind with its spec schema (strict, as every
 * kind's), refuses a change to one of `immutableFields` at apply, and runs one reconciler for all:
 *
 * - `declare` is called when a resource is applied, when its spec changes (a new generation) and,
 *   while it fails, on every reconcile pass (every 5 s); it is idempotent. Resolving marks the
 *   resource `Ready` True; rejecting marks it `Ready` False with the error's message (the backend's
 *   own words, never a secret).
 * - `remove` is called once when a resource this Herald declared is deleted; it honours the spec's
 *   own choice of keeping the entity (a Queue's `deletionPolicy: retain`). A failure is logged.
 * - The kinds of one plug-in are reconciled in the order listed, so a Binding applied with its Queue
 *   and Exchange finds them declared in the same pass.
 *
 * A resource deleted while Herald was not running is not removed from the backend.
 */
export interface TopologyKind<Schema extends z.ZodObject = z.ZodObject> extends KindNames {
  /** The kind's spec; Herald makes it strict at every depth, as the core kinds' are. */
  readonly specSchema: Schema;
  /** Spec fields that cannot change once applied (as the operator's webhooks refuse it). */
  readonly immutableFields: readonly string[];
  /** The configuration slices the kind reads (its backend's connection). */
  readonly config: readonly ConfigSlice[];
  declare(target: TopologyTarget<z.output<Schema>>, context: TopologyContext): Promise<void>;
  remove(target: TopologyTarget<z.output<Schema>>, context: TopologyContext): Promise<void>;
}

export interface TopologyTarget<Spec> {
  readonly namespace: string;
  readonly name: string;
  readonly spec: Spec;
}

export interface TopologyContext {
  /** One of the configuration slices the kind declared, validated. */
  configOf<Config>(slice: ConfigSlice<Config>): Config;
  /** Whether a resource of another kind exists (a RabbitmqCluster a reference names). */
  exists(apiVersion: string, kind: string, namespace: string, name: string): boolean;
  readonly logger: Logger;
}

/** Declares a topology kind, typed by its own spec; erased once, for the plug-in's list. */
export function defineTopologyKind<Schema extends z.ZodObject>(kind: TopologyKind<Schema>): TopologyKind {
  return kind;
}
