import type { AggregatorRegistry, RegistryContentType } from "prom-client";
import { parse as parseYaml } from "yaml";
import { HeraldError } from "../errors.js";
import type { Snapshot } from "../control/snapshot-file.js";
import type { ResourceStore } from "../control/store.js";
import type { Resource, ResourceStatus } from "../resources/common.js";
import type { KindRegistry } from "../resources/kinds.js";
import { invalidResource, type Manifest } from "../resources/validation.js";
import type { StoreRequest, Welcome, WireManifest } from "./messages.js";

/**
 * Channel kinds whose events live in one process, so N workers cannot share them: InMemoryChannel
 * (memory) and LogChannel (a log directory one process owns: adapters/log). A worker publishing to
 * one would hold events that the other workers' subscriptions never see.
 */
export const UNSHAREABLE_CHANNEL_KINDS: ReadonlySet<string> = new Set(["InMemoryChannel", "LogChannel"]);

export function unshareableReason(kind: string, workers: number): string {
  return (
    `${kind} keeps its events in one process, and serve runs ${workers} worker processes; ` +
    "use a broker-backed channel (KafkaChannel, RabbitmqChannel, PubSubChannel, NatsJetStreamChannel) or --workers 1"
  );
}

/** The channel kind a Broker's ConfigMap (`channel-template-spec`, as Knative's) names, if any. */
function brokerTemplateKind(text: unknown): unknown {
  if (typeof text !== "string") return undefined;
  try {
    return (parseYaml(text) as { kind?: unknown } | null)?.kind;
  } catch {
    // Not YAML: the Broker reconciler reports it on the Broker.
    return undefined;
  }
}

/** The stored resources that the workers could not share, named `Kind namespace/name`. */
export function unshareableResources(store: ResourceStore): string[] {
  return store
    .list()
    .filter((resource) => UNSHAREABLE_CHANNEL_KINDS.has(resource.kind))
    .map((resource) => `${resource.kind} ${resource.metadata.namespace}/${resource.metadata.name}`);
}

/**
 * The primary's side of the store: it runs the workers' requests against the one ResourceStore (the
 * only writer of the snapshot file) and sends every worker the new set after each change, before
 * answering the worker that asked.
 */
export class StoreOwner {
  private statusChanged = false;

  constructor(
    private readonly store: ResourceStore,
    private readonly kinds: KindRegistry,
    private readonly workers: number,
    private readonly aggregator: AggregatorRegistry<RegistryContentType>,
    private readonly broadcast: (snapshot: Snapshot) => void,
    /** Resolves once the leading worker ran a reconcile pass and sent its statuses. */
    private readonly reconcileOnLeader: () => Promise<void>,
  ) {}

  /** Runs one worker's request; worker 0 leads. */
  async handle(request: StoreRequest, worker: number): Promise<unknown> {
    switch (request.op) {
      case "hello":
        return { worker, leads: worker === 0, snapshot: this.store.snapshot() } satisfies Welcome;
      case "apply": {
        const manifests = request.manifests.map((manifest) => this.manifestOf(manifest));
        this.refuseUnshareable(manifests);
        const applied = await this.store.apply(manifests, request.owner);
        this.broadcast(this.store.snapshot());
        // An apply through the API answers with the status after a reconcile, as a single Herald does.
        if (worker !== 0 && !request.owner) await this.reconcileOnLeader();
        return applied;
      }
      case "delete": {
        const definition = this.kinds.find(request.apiVersion, request.kind);
        if (!definition)
          throw new HeraldError("NotFound", `unknown kind ${request.apiVersion} ${request.kind}`);
        const deleted = await this.store.delete(definition, request.namespace, request.name);
        if (deleted) this.broadcast(this.store.snapshot());
        return deleted;
      }
      case "flush":
        await this.store.flush();
        if (this.statusChanged) {
          this.statusChanged = false;
          this.broadcast(this.store.snapshot());
        }
        return undefined;
      case "metrics":
        return this.aggregator.clusterMetrics();
    }
  }

  /** A status from the leading worker, written with the next flush. */
  setStatus(resource: Pick<Resource, "apiVersion" | "kind" | "metadata">, status: ResourceStatus): void {
    if (this.store.setStatus(resource as Resource, status)) this.statusChanged = true;
  }

  private manifestOf(wire: WireManifest): Manifest {
    const definition = this.kinds.find(wire.apiVersion, wire.kind);
    if (!definition)
      throw invalidResource([
        { path: "kind", message: `${wire.apiVersion} ${wire.kind} is not a kind Herald runs` },
      ]);
    return { ...wire, definition };
  }

  /** A channel (or a channel template) of a kind one process owns is refused, with its field. */
  private refuseUnshareable(manifests: readonly Manifest[]): void {
    const problems = manifests.flatMap((manifest, index) => {
      const at = manifests.length > 1 ? `[${index}].` : "";
      if (UNSHAREABLE_CHANNEL_KINDS.has(manifest.kind))
        return [{ path: `${at}kind`, message: unshareableReason(manifest.kind, this.workers) }];
      // A Channel's, Sequence's or Parallel's template, or a Broker's ConfigMap as Knative's.
      const [field, template] =
        manifest.kind === "ConfigMap"
          ? ["data.channel-template-spec", brokerTemplateKind(manifest.spec["channel-template-spec"])]
          : [
              "spec.channelTemplate.kind",
              (manifest.spec as { channelTemplate?: { kind?: unknown } }).channelTemplate?.kind,
            ];
      if (typeof template === "string" && UNSHAREABLE_CHANNEL_KINDS.has(template))
        return [{ path: `${at}${field}`, message: unshareableReason(template, this.workers) }];
      return [];
    });
    if (problems.length > 0) throw invalidResource(problems);
  }
}
