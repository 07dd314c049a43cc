import { HeraldError } from "../errors.js";
import type { Resource } from "../resources/common.js";
import type { KindDefinition, KindRegistry } from "../resources/kinds.js";
import { invalidResource, type Manifest } from "../resources/validation.js";
import type { Admission } from "./admission.js";
import type { ApplyOrigin, ProcessSourceGate } from "./process-sources.js";
import type { ReconcileLoop } from "./reconcile-loop.js";
import type { ResourceStore } from "./store.js";

/** Apply and delete, as the resource API, the config folder and the CLI reach them. */
export class ResourceService {
  constructor(
    readonly kinds: KindRegistry,
    readonly store: ResourceStore,
    private readonly admission: Admission,
    private readonly loop: ReconcileLoop,
    private readonly processes: ProcessSourceGate,
  ) {}

  /**
   * Admits everything first (nothing is half-applied), stores, then reconciles. Resolves with the
   * stored resources including the status of that reconcile. A source that runs a process is
   * refused unless Herald allows them or it comes from the config folder (`origin`).
   */
  async apply(manifests: readonly Manifest[], origin: ApplyOrigin = "api"): Promise<Resource[]> {
    const admitted = this.admission.admit(manifests);
    const refused = this.processes.problems(admitted, origin);
    if (refused.length > 0) throw invalidResource(refused);
    const applied = await this.store.apply(admitted);
    this.processes.record(applied, origin);
    await this.loop.run();
    return applied.map((resource) => {
      const definition = this.kinds.find(resource.apiVersion, resource.kind);
      return (
        (definition && this.store.get(definition, resource.metadata.namespace, resource.metadata.name)) ??
        resource
      );
    });
  }

  async delete(definition: KindDefinition<unknown>, namespace: string, name: string): Promise<Resource> {
    const deleted = await this.store.delete(definition, namespace, name);
    if (!deleted) throw new HeraldError("NotFound", `${definition.kind} ${namespace}/${name} not found`);
    this.processes.forget(deleted);
    await this.loop.run();
    return deleted;
  }
}
