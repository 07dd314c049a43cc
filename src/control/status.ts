import type { Resource, ResourceStatus } from "../resources/common.js";
import { conditionsFor, type ConditionInput } from "./conditions.js";
import type { EventRecorder } from "./event-recorder.js";
import type { ResourceStore } from "./store.js";

/**
 * Writes status the one way every reconciler does: with observedGeneration, in memory until flushed.
 * A change of the Ready condition is recorded as a Kubernetes Event when `events` is given.
 */
export class StatusWriter {
  constructor(
    private readonly store: ResourceStore,
    private readonly events?: EventRecorder,
  ) {}

  set(resource: Resource<string, unknown>, status: ResourceStatus): void {
    const before = resource.status;
    const after = { ...status, observedGeneration: resource.metadata.generation };
    if (this.store.setStatus(resource, after)) this.events?.statusChanged(resource, before, after);
  }

  /** The resource's conditions after these inputs, with Ready derived (see conditionsFor). */
  conditions(resource: Resource<string, unknown>, inputs: readonly ConditionInput[]) {
    return conditionsFor(resource.status.conditions, inputs);
  }
}
