import type { Logger } from "pino";
import type { TopologyContext, TopologyKind } from "../../adapters/topology-kind.js";
import { sliceOf, type HeraldConfig } from "../config.js";
import type { Condition, Resource } from "../resources/common.js";
import type { KindRegistry } from "../resources/kinds.js";
import type { StatusWriter } from "./status.js";
import type { ResourceStore } from "./store.js";

export interface TopologyReconcilerDeps {
  config: HeraldConfig;
  logger: Logger;
  kinds: KindRegistry;
  store: ResourceStore;
  status: StatusWriter;
  /** Every plug-in's topology kinds, each plug-in's in its own order. */
  topologyKinds: readonly TopologyKind[];
}

/** What this Herald declared for one resource, to remove it when the resource is deleted. */
interface Declared {
  readonly kind: TopologyKind;
  readonly generation: number;
  readonly resource: Resource;
}

/**
 * Declares the topology kinds' resources on their backends (RabbitMQ's Queue, Exchange, Binding)
 * and removes them when deleted; see adapters/topology-kind.ts for the contract. Status is the
 * messaging topology operator's: one `Ready` condition, `SuccessfulCreateOrUpdate` when declared,
 * `FailedCreateOrUpdate` with the backend's error otherwise.
 */
export class TopologyReconciler {
  private readonly declared = new Map<string, Declared>();

  constructor(private readonly deps: TopologyReconcilerDeps) {}

  /** Declares what is new, changed or failed before; removes what was deleted. One call per pass. */
  async reconcile(): Promise<void> {
    const { kinds, store } = this.deps;
    const seen = new Set<string>();
    for (const kind of this.deps.topologyKinds) {
      const definition = kinds.find(`${kind.group}/${kind.versions[0]}`, kind.kind);
      if (!definition) continue;
      for (const resource of store.list(definition)) {
        const { uid, generation } = resource.metadata;
        seen.add(uid);
        if (this.declared.get(uid)?.generation === generation) continue;
        await this.declare(kind, resource);
      }
    }
    for (const [uid, declared] of this.declared) {
      if (seen.has(uid)) continue;
      this.declared.delete(uid);
      const { namespace, name } = declared.resource.metadata;
      await Promise.resolve()
        .then(() =>
          declared.kind.remove(
            { namespace, name, spec: declared.resource.spec },
            this.contextOf(declared.kind),
          ),
        )
        .catch((error: unknown) =>
          this.deps.logger.warn(
            { err: (error as Error).message, resource: `${declared.kind.kind} ${namespace}/${name}` },
            "could not remove a deleted resource from its backend",
          ),
        );
    }
  }

  private async declare(kind: TopologyKind, resource: Resource): Promise<void> {
    const { namespace, name, generation, uid } = resource.metadata;
    let ready: Omit<Condition, "type" | "lastTransitionTime">;
    try {
      await kind.declare({ namespace, name, spec: resource.spec }, this.contextOf(kind));
      this.declared.set(uid, { kind, generation, resource });
      ready = { status: "True", reason: "SuccessfulCreateOrUpdate" };
    } catch (error) {
      // Retried at the next pass; a resource declared at an earlier generation is still removed.
      const before = this.declared.get(uid);
      if (before) this.declared.set(uid, { ...before, generation: -1 });
      ready = { status: "False", reason: "FailedCreateOrUpdate", message: (error as Error).message };
    }
    const previous = resource.status.conditions?.find((condition) => condition.type === "Ready");
    const lastTransitionTime =
      previous && previous.status === ready.status ? previous.lastTransitionTime : new Date().toISOString();
    this.deps.status.set(resource, { conditions: [{ type: "Ready", ...ready, lastTransitionTime }] });
  }

  private contextOf(kind: TopologyKind): TopologyContext {
    const { config, kinds, store } = this.deps;
    return {
      configOf: (slice) => sliceOf(config, slice),
      exists: (apiVersion, kindName, namespace, name) => {
        const definition = kinds.find(apiVersion, kindName);
        return definition !== undefined && store.get(definition, namespace, name) !== undefined;
      },
      logger: this.deps.logger.child({ kind: kind.kind }),
    };
  }
}
