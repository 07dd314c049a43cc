import { isDeepStrictEqual } from "node:util";
import type { Logger } from "pino";
import type { ChannelAdapter } from "../../adapters/adapter.js";
import type { DeliverySpec, Resource } from "../resources/common.js";
import type { KindRegistry } from "../resources/kinds.js";
import { validateManifest } from "../resources/validation.js";
import type { AdapterRegistry } from "./adapters.js";
import type { ChannelTemplate } from "./brokers.js";
import { backingChannelConditions as conditions, type ConditionInput } from "./conditions.js";
import { addressKey, runtimeKey, type ChannelDirectory, type ChannelRuntime } from "./directory.js";
import type { EventPolicyReconciler } from "./event-policies.js";
import type { StatusWriter } from "./status.js";
import type { ResourceStore } from "./store.js";

/** What a Channel or Broker asks for: a backing channel of a kind, owned by it. */
export interface BackingRequest {
  readonly owner: Resource<string, unknown>;
  readonly name: string;
  readonly template: ChannelTemplate;
  readonly delivery: DeliverySpec | undefined;
}

/** Why an owner's backing channel could not be written. */
export interface BackingProblem {
  readonly reason: string;
  readonly message: string;
}

export interface BackingChannelDeps {
  readonly kinds: KindRegistry;
  readonly store: ResourceStore;
  readonly adapters: AdapterRegistry;
  readonly directory: ChannelDirectory;
  readonly status: StatusWriter;
  readonly logger: Logger;
  /** The ingress address of a backing channel. */
  channelAddress(namespace: string, name: string): string;
  /** Called before a channel's topology is removed, so its subscriptions close first. */
  beforeTeardown(runtime: ChannelRuntime): Promise<void>;
  /** Audiences and the EventPolicies that apply (Knative's OIDC and authorization). */
  readonly eventPolicies?: EventPolicyReconciler | undefined;
}

/**
 * The backing channels (InMemoryChannel, KafkaChannel...): materialised from their owners' requests
 * (Knative's channel and channel-based broker controllers), run on their adapters, and given an
 * address, `BackendReady` and the backend's facts in status. Runtimes are keyed by kind and name;
 * a second channel at an address already held gets `BackendReady=False` (AddressConflict) and is
 * neither run nor allowed to tear the first one down.
 */
export class BackingChannelReconciler {
  constructor(private readonly deps: BackingChannelDeps) {}

  /** Writes each requested backing resource, returns why one could not be; deletes the unwanted. */
  async materialize(requests: readonly BackingRequest[]): Promise<Map<string, BackingProblem>> {
    const { store, kinds } = this.deps;
    const problems = new Map<string, BackingProblem>();
    const wanted = new Set<string>();
    for (const { owner, name, template, delivery } of requests) {
      const result = validateManifest(kinds, {
        apiVersion: template.apiVersion,
        kind: template.kind,
        metadata: { name, namespace: owner.metadata.namespace },
        spec: { ...(template.spec ?? {}), ...(delivery ? { delivery } : {}) },
      });
      const manifest = result.manifest;
      if (!manifest || manifest.definition.role !== "backing-channel") {
        problems.set(owner.metadata.uid, {
          reason: "ChannelTemplateInvalid",
          message: manifest
            ? `${template.kind} is not a channel kind`
            : result.problems.map((p) => `${p.path}: ${p.message}`).join("; "),
        });
        continue;
      }
      wanted.add(runtimeKey(manifest.kind, owner.metadata.namespace, name));
      const existing = store.get(manifest.definition, owner.metadata.namespace, name);
      if (existing && existing.metadata.ownerReferences?.[0]?.uid !== owner.metadata.uid) {
        problems.set(owner.metadata.uid, {
          reason: "BackingChannelConflict",
          message: `${existing.kind} ${owner.metadata.namespace}/${name} exists and is not owned by this ${owner.kind}`,
        });
      } else if (!existing || !isDeepStrictEqual(existing.spec, manifest.spec)) {
        await store.apply([manifest], owner);
      }
    }
    // Owned backing channels no longer requested (owner deleted, or asking for another kind) go.
    for (const definition of kinds.withRole("backing-channel")) {
      for (const backing of store.list(definition)) {
        const { namespace, name, ownerReferences } = backing.metadata;
        if (ownerReferences?.[0] && !wanted.has(runtimeKey(backing.kind, namespace, name)))
          await store.delete(definition, namespace, name);
      }
    }
    return problems;
  }

  /** Brings the runtimes in line with the stored backing channels, and writes their status. */
  async reconcile(): Promise<void> {
    const { store, kinds, directory, adapters } = this.deps;
    const seen = new Set<string>();
    // A backend that stopped answering shows in its channels' status and in /readyz. Its channels keep
    // running: a publish still tries the backend (503 after the deadline) and consumers reconnect by
    // themselves, so a slow probe never tears subscriptions down.
    const unreachable = new Map(
      (await adapters.readiness())
        .filter((backend) => !backend.ready)
        .map((backend) => [backend.kind, backend.message] as const),
    );
    for (const definition of kinds.withRole("backing-channel")) {
      for (const resource of store.list(definition)) {
        const { namespace, name } = resource.metadata;
        const key = runtimeKey(resource.kind, namespace, name);
        seen.add(key);
        const policies = this.deps.eventPolicies;
        const audience = policies?.audience(definition.group, definition.kind, namespace, name);
        const address = { url: this.deps.channelAddress(namespace, name), ...(audience ? { audience } : {}) };
        const applied = policies?.statusOf(policies.applyingTo(definition.group, definition.kind, resource));
        const adapter = adapters.get(resource.kind);
        const holder = directory.atAddress(namespace, name);
        let backend: ConditionInput;
        let facts: Record<string, string | number> = {};
        if (holder && holder.key !== key) {
          backend = conditions.markFalse(
            "BackendReady",
            "AddressConflict",
            `${holder.kind} ${namespace}/${name} already serves this address; delete one of the two`,
          );
        } else if (!adapter) {
          backend = conditions.markFalse(
            "BackendReady",
            "BackendNotConfigured",
            `no adapter for ${resource.kind} is configured in this Herald`,
          );
        } else {
          const previous = directory.get(key);
          if (previous && previous.uid !== resource.metadata.uid) await this.teardown(previous);
          const runtime = await this.ensure(resource, adapter, directory.get(key));
          directory.set(runtime);
          facts = runtime.facts;
          backend = !runtime.ready
            ? conditions.markFalse("BackendReady", runtime.reason ?? "BackendUnavailable", runtime.message)
            : unreachable.has(runtime.kind)
              ? conditions.markFalse(
                  "BackendReady",
                  "BackendUnreachable",
                  unreachable.get(runtime.kind) ?? `the ${runtime.kind} backend does not answer`,
                )
              : conditions.markTrue("BackendReady");
        }
        const { policies: _previous, ...previous } = resource.status;
        this.deps.status.set(resource, {
          ...previous,
          ...facts,
          address,
          ...(applied?.policies ? { policies: applied.policies } : {}),
          conditions: this.deps.status.conditions(resource, [
            conditions.markTrue("Addressable"),
            backend,
            ...(applied ? [applied.condition] : []),
          ]),
        });
      }
    }
    for (const runtime of [...directory.values()]) if (!seen.has(runtime.key)) await this.teardown(runtime);
  }

  /** Creates (or re-creates after a spec change or a failure) the backend topology of a channel. */
  private async ensure(
    resource: Resource,
    adapter: ChannelAdapter,
    previous: ChannelRuntime | undefined,
  ): Promise<ChannelRuntime> {
    const { namespace, name, uid } = resource.metadata;
    const specJson = JSON.stringify(resource.spec);
    if (previous && previous.ready && previous.specJson === specJson && previous.uid === uid) {
      // Readiness tells the truth: a backend that went away since shows in status and /readyz.
      return previous;
    }
    const runtime: ChannelRuntime = {
      key: runtimeKey(resource.kind, namespace, name),
      address: addressKey(namespace, name),
      kind: resource.kind,
      uid,
      adapter,
      target: { namespace, name, uid, spec: resource.spec },
      delivery: resource.spec.delivery as DeliverySpec | undefined,
      specJson,
      ready: false,
      message: undefined,
      facts: {},
    };
    try {
      runtime.facts = { ...(await adapter.createChannel(runtime.target)) };
      runtime.ready = true;
    } catch (error) {
      runtime.message = error instanceof Error ? error.message : String(error);
      const { reason } = error as { reason?: unknown };
      if (typeof reason === "string") runtime.reason = reason;
      this.deps.logger.warn({ channel: runtime.key, err: error }, "channel backend not ready");
    }
    return runtime;
  }

  private async teardown(runtime: ChannelRuntime): Promise<void> {
    this.deps.directory.delete(runtime);
    await this.deps.beforeTeardown(runtime);
    try {
      await runtime.adapter.deleteChannel(runtime.target);
    } catch (error) {
      this.deps.logger.error(
        { channel: runtime.key, err: error },
        "deleting the channel's backend topology failed",
      );
    }
  }
}

/**
 * The backing channel an owner asked for, once it exists and is owned by it, with the owner's
 * readiness condition mirrored from it (the backing channel's Ready reason and message).
 */
export function mirrorBacking<Type extends string>(
  deps: Pick<BackingChannelDeps, "kinds" | "store">,
  request: BackingRequest,
  type: Type,
  notReadyReason: string,
): { backing: Resource; condition: ConditionInput } | undefined {
  const { owner, name, template } = request;
  const definition = deps.kinds.find(template.apiVersion, template.kind);
  const backing = definition && deps.store.get(definition, owner.metadata.namespace, name);
  if (!backing || backing.metadata.ownerReferences?.[0]?.uid !== owner.metadata.uid) return undefined;
  const ready = backing.status.conditions?.find((c) => c.type === "Ready");
  const condition: ConditionInput =
    ready?.status === "True"
      ? { type, status: "True" }
      : { type, status: "False", reason: ready?.reason ?? notReadyReason, message: ready?.message };
  return { backing, condition };
}
