import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import type { Logger } from "pino";
import type { SourceContext, SourceFactory } from "../../sources/source.js";
import { childEnvironment, sliceOf, type HeraldConfig } from "../config.js";
import type { Sender } from "../dispatcher/sender.js";
import { HeraldError } from "../errors.js";
import { withAttributes } from "../events/event.js";
import { compileTriggerFilter } from "../filters/trigger-filter.js";
import { coreKinds, type KindRegistry } from "../resources/kinds.js";
import type { Metrics } from "../metrics.js";
import { groupOf } from "../resources/sinks.js";
import { destinationAudience, destinationCACerts, identityFor } from "./destinations.js";
import { sendToSink } from "./sink-sender.js";
import type { ProcessSourceGate } from "./process-sources.js";
import type { RunningSource, SourceSpec } from "./source-status.js";
import type { StatusWriter } from "./status.js";
import type { ResourceStore } from "./store.js";

/** What the source reconciler, and the context it gives each worker, work with. */
export interface SourceReconcilerDeps {
  config: HeraldConfig;
  logger: Logger;
  kinds: KindRegistry;
  store: ResourceStore;
  status: StatusWriter;
  sender: Sender;
  metrics: Metrics;
  /** The source kinds this Herald runs. */
  sources: readonly SourceFactory[];
  /** Where Herald is reachable (the base of webhook addresses). */
  baseUrl: () => string;
  /** Called when a worker changed its conditions outside a reconcile pass. */
  onStatusChange: () => void;
  /** Whether a source that runs a process may run (see ProcessSourceGate). */
  processes: ProcessSourceGate;
}

/**
 * What a source worker gets from the runtime: its configuration slice, Secrets, its state file,
 * and `send`, which applies `spec.ceOverrides`, drops what `spec.filters` does not match (counted
 * as filtered), and sends to the resolved sink with the source's delivery spec and identity.
 */
export function sourceContext(
  deps: SourceReconcilerDeps,
  current: RunningSource,
  options: { log: Logger; stateDir: string; isCurrent: () => boolean },
): { spec: Record<string, unknown>; context: SourceContext } {
  const { factory, resource, spec } = current;
  const { log, stateDir, isCurrent } = options;
  const config = deps.config;
  const extensions = spec.ceOverrides?.extensions ?? {};
  const abort = current.abort;
  const { sink: _sink, ceOverrides: _overrides, delivery: _delivery, filters, ...own } = spec;
  // Knative's SubscriptionsAPI filters (ApiServerSource), compiled once: unmatched events are not sent.
  const matches =
    factory.filters && Array.isArray(filters) && filters.length > 0
      ? compileTriggerFilter({ filters: filters as Record<string, unknown>[] })
      : undefined;
  const filteredOut = (): boolean => {
    const { namespace, name } = resource.metadata;
    deps.metrics.sourceEvents.inc({ kind: factory.kind, namespace, name, outcome: "filtered" });
    return true;
  };
  return {
    spec: own,
    context: {
      configOf: (slice) => sliceOf(config, slice),
      childEnvironment: (extra) => childEnvironment(extra),
      logger: log,
      resource: {
        namespace: resource.metadata.namespace,
        name: resource.metadata.name,
        uid: resource.metadata.uid,
      },
      stateFile: join(stateDir, `${resource.metadata.uid}.json`),
      apiUrl: deps.baseUrl(),
      listResources: (apiVersion, kind, namespace) => {
        const definition = deps.kinds.find(apiVersion, kind);
        if (!definition) return undefined;
        return { plural: definition.plural, items: deps.store.list(definition, namespace) };
      },
      signal: abort.signal,
      sinkUrl: () => current.sinkUrl,
      secret: ({ name, key }) => {
        const secret = deps.store.get(coreKinds.secret, resource.metadata.namespace, name);
        if (!secret)
          throw new HeraldError("NotFound", `Secret ${resource.metadata.namespace}/${name} not found`);
        const value = secret.spec[key];
        if (value === undefined)
          throw new HeraldError(
            "NotFound",
            `Secret ${resource.metadata.namespace}/${name} has no key ${key}`,
          );
        return Buffer.from(value, "base64").toString("utf8");
      },
      ceOverrides: extensions,
      send: (event) =>
        matches && !matches(withAttributes(event, extensions))
          ? Promise.resolve(filteredOut())
          : sendToSink(
              { sender: deps.sender, metrics: deps.metrics, logger: log },
              {
                kind: factory.kind,
                namespace: resource.metadata.namespace,
                name: resource.metadata.name,
                sinkUrl: () => current.sinkUrl,
                sinkCACerts: () => destinationCACerts((current.resource.spec as SourceSpec).sink),
                // A source sends as itself (Knative's per-source OIDC identity) to a sink with an audience.
                sinkIdentity: () =>
                  identityFor(
                    current.resource,
                    groupOf(current.resource.apiVersion),
                    destinationAudience(
                      deps,
                      (current.resource.spec as SourceSpec).sink,
                      current.resource.metadata.namespace,
                    ),
                  ),
                delivery: () => current.delivery,
                signal: abort.signal,
              },
              withAttributes(event, extensions),
            ),
      setStatusFields: (fields) => {
        current.fields = { ...current.fields, ...fields };
        if (isCurrent()) deps.onStatusChange();
      },
      setCondition: (type, status, reason, message) => {
        const previous = current.conditions.get(type);
        const next = { type, status, reason, message };
        if (isDeepStrictEqual(previous, next)) return;
        current.conditions.set(type, next);
        if (isCurrent()) deps.onStatusChange();
      },
    },
  };
}
