import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import type { SourceFactory, SourceRequest, SourceResponse } from "../../sources/source.js";
import type { DeliveryOptions } from "../dispatcher/delivery.js";
import type { Resource } from "../resources/common.js";
import { groupOf } from "../resources/sinks.js";
import {
  authStatusOf,
  destinationAudience,
  destinationCACerts,
  identityFor,
  resolveDestination,
  UnresolvableDestination,
} from "./destinations.js";
import { toDeliveryOptions } from "./delivery.js";
import { sourceContext, type SourceReconcilerDeps } from "./source-context.js";
import { disabledConditions, sourceStatus, type RunningSource, type SourceSpec } from "./source-status.js";

/**
 * Runs one worker per Source resource: started when applied, restarted when its spec changes,
 * stopped when deleted. The runtime resolves `spec.sink`, applies `spec.ceOverrides.extensions`,
 * retries sends until the sink accepts (so a source that holds events in its external system does
 * not ack before then), and reports `SinkProvided`, the worker's own conditions and `Ready`.
 */
export class SourceReconciler {
  private readonly running = new Map<string, RunningSource>();

  constructor(private readonly options: SourceReconcilerDeps) {}

  /** Brings the workers in line with the stored Source resources; one call per reconcile pass. */
  async reconcile(): Promise<void> {
    const { store, kinds } = this.options;
    const seen = new Set<string>();
    for (const factory of this.options.sources) {
      const definition = kinds.find(`${factory.group}/${factory.versions[0]}`, factory.kind);
      if (!definition) continue;
      for (const resource of store.list(definition)) {
        seen.add(resource.metadata.uid);
        const spec = resource.spec as SourceSpec;
        let sinkUrl: string | undefined;
        let sinkProblem: UnresolvableDestination | undefined;
        try {
          sinkUrl = resolveDestination(
            { store, kinds, serviceUrlTemplate: this.options.config.serviceUrlTemplate },
            spec.sink,
            resource.metadata.namespace,
          );
        } catch (error) {
          if (!(error instanceof UnresolvableDestination)) throw error;
          sinkProblem = error;
        }
        const delivery = this.deliveryOf(spec, resource);
        if (delivery instanceof UnresolvableDestination) {
          // Not started: a dead-letter sink that does not resolve would drop what it should keep.
          sinkProblem = delivery;
          sinkUrl = undefined;
        }
        let current = this.running.get(resource.metadata.uid);
        const { processes } = this.options;
        if (factory.runsProcesses && !processes.mayRun(resource)) {
          // Kept, not run: applied while process sources were allowed, or from a config folder since left.
          if (current) await this.stop(current, "stopped");
          const conditions = disabledConditions(sinkUrl, sinkProblem, processes.remedy());
          this.options.status.set(resource, {
            conditions: this.options.status.conditions(resource, conditions),
          });
          continue;
        }
        if (current && (!sinkUrl || !isDeepStrictEqual(current.spec, spec))) {
          await this.stop(current, "stopped");
          current = undefined;
        }
        if (sinkUrl && !current)
          current = await this.start(
            factory,
            resource,
            sinkUrl,
            delivery instanceof UnresolvableDestination ? undefined : delivery,
          );
        if (current) {
          current.sinkUrl = sinkUrl!;
          current.delivery = delivery instanceof UnresolvableDestination ? undefined : delivery;
          current.resource = resource;
        }
        this.options.status.set(resource, {
          ...sourceStatus(
            factory,
            resource,
            current,
            { url: sinkUrl, problem: sinkProblem },
            {
              baseUrl: this.options.baseUrl(),
              conditionsOf: (conditions) => this.options.status.conditions(resource, conditions),
            },
          ),
          ...authStatusOf(
            { authenticationOidc: this.options.config.authenticationOidc === "enabled" },
            resource,
            groupOf(resource.apiVersion),
          ),
        });
      }
    }
    for (const [uid, current] of this.running) if (!seen.has(uid)) await this.stop(current, "deleted");
  }

  /**
   * The source's `spec.delivery` as dispatcher options, its dead-letter sink resolved; a string
   * saying why when the dead-letter sink does not resolve.
   */
  private deliveryOf(
    spec: SourceSpec,
    resource: Resource,
  ): DeliveryOptions | undefined | UnresolvableDestination {
    const { namespace } = resource.metadata;
    if (!spec.delivery) return undefined;
    const { deadLetterSink } = spec.delivery;
    if (!deadLetterSink) return toDeliveryOptions(spec.delivery, undefined);
    const { store, kinds, config } = this.options;
    try {
      const url = resolveDestination(
        { store, kinds, serviceUrlTemplate: config.serviceUrlTemplate },
        deadLetterSink,
        namespace,
      );
      return {
        ...toDeliveryOptions(spec.delivery, url, destinationCACerts(deadLetterSink)),
        deadLetterSinkIdentity: identityFor(
          resource,
          groupOf(resource.apiVersion),
          destinationAudience(this.options, deadLetterSink, namespace),
        ),
      };
    } catch (error) {
      if (!(error instanceof UnresolvableDestination)) throw error;
      return new UnresolvableDestination(error.reason, `spec.delivery.deadLetterSink: ${error.message}`);
    }
  }

  /** An HTTP request to `/sources/{namespace}/{name}` (GitHubSource webhooks). */
  async handleRequest(namespace: string, name: string, request: SourceRequest): Promise<SourceResponse> {
    const current = [...this.running.values()].find(
      (r) => r.resource.metadata.namespace === namespace && r.resource.metadata.name === name,
    );
    if (!current?.worker?.handleRequest) {
      return { status: 404, body: `no source ${namespace}/${name} receives HTTP requests here` };
    }
    return current.worker.handleRequest(request);
  }

  async close(): Promise<void> {
    await Promise.all([...this.running.values()].map((current) => this.stop(current, "stopped")));
  }

  private async start(
    factory: SourceFactory,
    resource: Resource,
    sinkUrl: string,
    delivery: DeliveryOptions | undefined,
  ): Promise<RunningSource> {
    const { config, logger } = this.options;
    const spec = resource.spec as SourceSpec;
    const abort = new AbortController();
    const current: RunningSource = {
      uid: resource.metadata.uid,
      factory,
      spec,
      abort,
      sinkUrl,
      delivery,
      conditions: new Map(),
      fields: {},
      resource,
    };
    this.running.set(current.uid, current);
    const stateDir = join(config.dataDir, "sources");
    // Owner-only, like the data directory it is in.
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const log = logger.child({
      source: `${factory.kind} ${resource.metadata.namespace}/${resource.metadata.name}`,
    });
    const { spec: own, context } = sourceContext(this.options, current, {
      log,
      stateDir,
      isCurrent: () => this.running.get(current.uid) === current,
    });
    try {
      current.worker = await factory.start(factory.specSchema.parse(own), context);
    } catch (error) {
      current.startError = error instanceof Error ? error.message : String(error);
      log.warn({ err: error }, "source failed to start; retried at the next resync");
      this.running.delete(current.uid);
    }
    return current;
  }

  private async stop(current: RunningSource, reason: "deleted" | "stopped"): Promise<void> {
    this.running.delete(current.uid);
    if (reason === "deleted") {
      const { namespace, name } = current.resource.metadata;
      await this.options.metrics.forgetSource(current.factory.kind, namespace, name);
    }
    current.abort.abort();
    await current.worker?.stop(reason).catch((error: unknown) => {
      this.options.logger.warn({ err: error }, "stopping a source failed");
    });
  }
}
