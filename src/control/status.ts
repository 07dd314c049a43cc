import type { Resource, ResourceStatus } from "../resources/common.js";
import { conditionsFor, type ConditionInput } from "./conditions.js";
import type { ResourceStore } from "./store.js";

/** Writes status the one way every reconciler does: with observedGeneration, in memory until flushed. */
export class StatusWriter {
  constructor(private readonly store: ResourceStore) {}

  set(resource: Resource<string, unknown>, status: ResourceStatus): void {
    this.store.setStatus(resource, { ...status, observedGeneration: resource.metadata.generation });
  }

  /** The resource's conditions after these inputs, with Ready derived (see conditionsFor). */
  conditions(resource: Resource<string, unknown>, inputs: readonly ConditionInput[]) {
    return conditionsFor(resource.status.conditions, inputs);
  }
}
