import type { SourceFactory, SourceWorker } from "../../sources/source.js";
import type { DeliveryOptions } from "../dispatcher/delivery.js";
import type { DeliverySpec, Destination, Resource, ResourceStatus } from "../resources/common.js";
import { sourceConditions, type ConditionInput } from "./conditions.js";
import type { UnresolvableDestination } from "./destinations.js";
import { PROCESS_SOURCES_DISABLED } from "./process-sources.js";

export interface SourceSpec {
  sink: Destination;
  ceOverrides?: { extensions?: Record<string, string> } | undefined;
  delivery?: DeliverySpec | undefined;
  [field: string]: unknown;
}

/** A source worker the runtime started, with what it reported. */
export interface RunningSource {
  readonly uid: string;
  readonly factory: SourceFactory;
  readonly spec: SourceSpec;
  readonly abort: AbortController;
  sinkUrl: string;
  /** The source's `spec.delivery` as dispatcher options, its dead-letter sink resolved. */
  delivery?: DeliveryOptions | undefined;
  worker?: SourceWorker | undefined;
  /** The worker's own conditions, by type, and its own status fields. */
  readonly conditions: Map<string, ConditionInput>;
  fields: Record<string, unknown>;
  /** Set while the worker is starting or failed to start. */
  startError?: string | undefined;
  resource: Resource;
}

/** The sink as a condition: resolved, or why not (NotFound, NotAddressable, NotMapped). */
function sinkCondition(
  sinkUrl: string | undefined,
  problem: UnresolvableDestination | undefined,
): ConditionInput {
  return sinkUrl
    ? sourceConditions.markTrue("SinkProvided")
    : sourceConditions.markFalse("SinkProvided", problem?.reason ?? "NotFound", problem?.message);
}

/** The conditions of a source kept but not run, since process sources are not allowed. */
export function disabledConditions(
  sinkUrl: string | undefined,
  problem: UnresolvableDestination | undefined,
  remedy: string,
): ConditionInput[] {
  return [
    sinkCondition(sinkUrl, problem),
    { type: "Deployed", status: "False", reason: PROCESS_SOURCES_DISABLED, message: remedy },
  ];
}

/**
 * A running (or failed) source's status: SinkProvided, Deployed and the worker's own conditions
 * (completed with Ready by `conditionsOf`), its status fields, sinkUri, ceAttributes and, for a
 * source that receives HTTP, its webhookUrl.
 */
export function sourceStatus(
  factory: SourceFactory,
  resource: Resource,
  current: RunningSource | undefined,
  sink: { url: string | undefined; problem: UnresolvableDestination | undefined },
  options: { baseUrl: string; conditionsOf: (conditions: ConditionInput[]) => ResourceStatus["conditions"] },
): ResourceStatus {
  const conditions: ConditionInput[] = [sinkCondition(sink.url, sink.problem)];
  if (current?.startError) {
    conditions.push({
      type: "Deployed",
      status: "False",
      reason: "StartFailed",
      message: current.startError,
    });
  } else if (current) {
    conditions.push({ type: "Deployed", status: current.worker ? "True" : "Unknown" });
    conditions.push(...current.conditions.values());
  }
  const { namespace, name, uid } = resource.metadata;
  const status: ResourceStatus = { ...current?.fields, conditions: options.conditionsOf(conditions) };
  if (sink.url) status.sinkUri = sink.url;
  const attributes = factory.ceAttributes?.(resource.spec, { namespace, name, uid });
  if (attributes) status.ceAttributes = attributes;
  if (current?.worker?.handleRequest) status.webhookUrl = `${options.baseUrl}/sources/${namespace}/${name}`;
  return status;
}
