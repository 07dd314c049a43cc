import { HeraldError } from "../errors.js";
import type { Resource } from "../resources/common.js";
import type { KindDefinition, KindRegistry } from "../resources/kinds.js";
import type { Manifest } from "../resources/validation.js";
import type { Admission } from "./admission.js";
import type { ReconcileLoop } from "./reconcile-loop.js";
import type { ResourceStore } from "./store.js";

/** Apply and delete, as the resource API, the config folder and the CLI reach them. */
export class ResourceService {
  constructor(
    readonly kinds: KindRegistry,
    readonly store: ResourceStore,
    private readonly admission: Admission,
    private readonly loop: ReconcileLoop,
  ) {}

  /**
   * Admits everything first (nothing is half-applied), stores, then reconciles. Resolves with the
   * stored resources including the status of that reconcile.
   */
  async apply(manifests: readonly Manifest[]): Promise<Resource[]> {
    const admitted = this.admission.admit(manifests);
    const applied = await this.store.apply(admitted);
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
    await this.loop.run();
    return deleted;
  }
}
