import { randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import type { Logger } from "pino";
import { HeraldError } from "../errors.js";
import type { Resource, ResourceStatus } from "../resources/common.js";
import { apiVersionOf, type KindDefinition, type KindRegistry } from "../resources/kinds.js";
import { invalidResource, type Manifest } from "../resources/validation.js";
import { SnapshotFile, type Snapshot } from "./snapshot-file.js";

export function resourceKey(group: string, kind: string, namespace: string, name: string): string {
  return `${group}/${kind}/${namespace}/${name}`;
}

function groupOf(apiVersion: string): string {
  return apiVersion.includes("/") ? apiVersion.split("/")[0]! : "";
}

export function keyOf(resource: Resource<string, unknown>): string {
  return resourceKey(
    groupOf(resource.apiVersion),
    resource.kind,
    resource.metadata.namespace,
    resource.metadata.name,
  );
}

export interface ResourceStoreOptions {
  /** The data directory: created 0700; the snapshot and its backup are 0600. */
  readonly dataDir: string;
  readonly kinds: KindRegistry;
  readonly logger: Logger;
  /**
   * The most resources the store holds. An apply that would go beyond it is refused; the backing
   * channels Herald materialises for Channels and Brokers count, but are never refused; Events do
   * not count.
   */
  readonly maxResources: number;
}

/**
 * Every applied resource, in memory, persisted as one JSON snapshot (`resources.json`) in the data
 * directory.
 *
 * A change is made on a copy: the candidate snapshot is serialised and written first, and the
 * in-memory set is replaced only once that write succeeded, so a change that cannot be persisted
 * (a resource that cannot be serialised, a full disk) leaves both the memory and the file as they
 * were, and later changes still apply. Changes run one at a time in call order.
 *
 * How the snapshot is written and recovered is SnapshotFile's.
 */
export class ResourceStore {
  protected resources = new Map<string, Resource>();
  private readonly kinds: KindRegistry;
  private readonly maxResources: number;
  private readonly snapshots: SnapshotFile;
  /** Changes and writes, one at a time. */
  private queue: Promise<unknown> = Promise.resolve();
  protected version = 0;
  private dirty = false;

  constructor(options: ResourceStoreOptions) {
    this.kinds = options.kinds;
    this.maxResources = options.maxResources;
    this.snapshots = new SnapshotFile(options.dataDir, options.logger);
  }

  async load(): Promise<void> {
    const saved = await this.snapshots.open();
    if (!saved) return;
    this.version = saved.version;
    for (const resource of saved.resources) {
      // A kind no longer known (for example after a downgrade) is kept out rather than crash the start.
      if (this.kinds.find(resource.apiVersion, resource.kind)) this.resources.set(keyOf(resource), resource);
    }
  }

  /** Every resource and the version counter, as the snapshot file holds them (sent to `serve --workers`). */
  snapshot(): Snapshot {
    return { version: this.version, resources: [...this.resources.values()] };
  }

  /** The stored resource of a kind; its spec has the type the kind's schema produces. */
  get<Spec, Kind extends string>(
    definition: KindDefinition<Spec, Kind>,
    namespace: string,
    name: string,
  ): Resource<Kind, Spec> | undefined {
    return this.resources.get(resourceKey(definition.group, definition.kind, namespace, name)) as
      Resource<Kind, Spec> | undefined;
  }

  list<Spec, Kind extends string>(
    definition: KindDefinition<Spec, Kind>,
    namespace?: string,
  ): Resource<Kind, Spec>[];
  list(definition?: undefined, namespace?: string): Resource[];
  list(definition?: KindDefinition<unknown>, namespace?: string): Resource[] {
    const out: Resource[] = [];
    for (const resource of this.resources.values()) {
      // On the group, not a prefix of apiVersion: a core kind's apiVersion ("v1") has no "/".
      if (
        definition &&
        (resource.kind !== definition.kind || groupOf(resource.apiVersion) !== definition.group)
      )
        continue;
      if (namespace && resource.metadata.namespace !== namespace) continue;
      out.push(resource);
    }
    return out.sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
  }

  /**
   * Creates or replaces resources from validated manifests, all or nothing, and resolves once they
   * are persisted. The spec changing bumps metadata.generation; uid and creationTimestamp are kept
   * across replacements. Rejects, changing nothing, when the store would hold more than
   * `maxResources` (InvalidResource) or the snapshot cannot be written (Internal).
   */
  apply(manifests: readonly Manifest[], owner?: Resource<string, unknown>): Promise<Resource[]> {
    return this.exclusive(async () => {
      const candidate = new Map(this.resources);
      let version = this.version;
      const applied = manifests.map((manifest) => {
        const resource = this.build(manifest, owner, candidate, String(++version));
        candidate.set(keyOf(resource), resource);
        return resource;
      });
      const counted = countedSize(candidate);
      if (!owner && counted > this.maxResources && counted > countedSize(this.resources)) {
        throw invalidResource([
          {
            path: "",
            message: `Herald holds at most ${this.maxResources} resources (HERALD_MAX_RESOURCES), counting the backing channels of Channels and Brokers; delete some first`,
          },
        ]);
      }
      await this.commit(candidate, version, manifests);
      return applied;
    });
  }

  private build(
    manifest: Manifest,
    owner: Resource<string, unknown> | undefined,
    resources: ReadonlyMap<string, Resource>,
    resourceVersion: string,
  ): Resource {
    const { definition, metadata } = manifest;
    const key = resourceKey(definition.group, definition.kind, metadata.namespace, metadata.name);
    const existing = resources.get(key);
    const unchanged = existing !== undefined && isDeepStrictEqual(existing.spec, manifest.spec);
    const ownerReferences = owner
      ? [
          {
            apiVersion: owner.apiVersion,
            kind: owner.kind,
            name: owner.metadata.name,
            uid: owner.metadata.uid,
          },
        ]
      : metadata.ownerReferences;
    return {
      apiVersion: apiVersionOf(definition),
      kind: definition.kind,
      metadata: {
        ...metadata,
        ...(ownerReferences ? { ownerReferences } : {}),
        uid: existing?.metadata.uid ?? randomUUID(),
        generation: existing ? existing.metadata.generation + (unchanged ? 0 : 1) : 1,
        creationTimestamp: existing?.metadata.creationTimestamp ?? new Date().toISOString(),
        resourceVersion,
      },
      spec: manifest.spec,
      status: existing?.status ?? {},
    };
  }

  /** Deletes a resource once the snapshot without it is persisted; undefined when there was none. */
  delete(
    definition: KindDefinition<unknown>,
    namespace: string,
    name: string,
  ): Promise<Resource | undefined> {
    return this.exclusive(async () => {
      const key = resourceKey(definition.group, definition.kind, namespace, name);
      const existing = this.resources.get(key);
      if (!existing) return undefined;
      const candidate = new Map(this.resources);
      candidate.delete(key);
      await this.commit(candidate, this.version);
      return existing;
    });
  }

  /**
   * Replaces a resource's status in memory; returns false when it did not change. `flush()` writes
   * the statuses changed since the last write, so one reconcile pass costs at most one write.
   */
  setStatus(resource: Resource<string, unknown>, status: ResourceStatus): boolean {
    const current = this.resources.get(keyOf(resource));
    if (!current || current.metadata.uid !== resource.metadata.uid) return false;
    if (isDeepStrictEqual(current.status, status)) return false;
    current.status = status;
    this.dirty = true;
    return true;
  }

  /** Writes the statuses changed since the last write; a failed write is tried again at the next flush. */
  flush(): Promise<void> {
    return this.exclusive(async () => {
      if (this.dirty) await this.commit(this.resources, this.version);
    });
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Persists `candidate`, then makes it the store's set; on any failure nothing changes. */
  private async commit(
    candidate: Map<string, Resource>,
    version: number,
    manifests: readonly Manifest[] = [],
  ): Promise<void> {
    const wasDirty = this.dirty;
    // Statuses changed from here on are written by the next flush.
    this.dirty = false;
    try {
      let snapshot: string;
      try {
        snapshot = JSON.stringify({ version, resources: [...candidate.values()] }, null, 1);
      } catch (error) {
        throw new HeraldError(
          "Internal",
          `${describe(manifests)} cannot be saved (${messageOf(error)}); nothing was applied`,
          undefined,
          { cause: error },
        );
      }
      try {
        await this.snapshots.write(snapshot);
      } catch (error) {
        throw new HeraldError(
          "Internal",
          `the resources could not be saved in ${this.snapshots.file} (${messageOf(error)}); nothing was changed`,
          undefined,
          { cause: error },
        );
      }
    } catch (error) {
      this.dirty ||= wasDirty;
      throw error;
    }
    this.resources = candidate;
    this.version = version;
  }
}

/**
 * How many resources count towards `maxResources`: Events do not, they are bounded by their own
 * time to live and number per namespace (EventRecorder).
 */
function countedSize(resources: ReadonlyMap<string, Resource>): number {
  let size = 0;
  for (const resource of resources.values())
    if (resource.kind !== "Event" || resource.apiVersion !== "v1") size++;
  return size;
}

function describe(manifests: readonly Manifest[]): string {
  if (manifests.length === 0) return "the resources";
  return manifests.map((m) => `${m.definition.kind} ${m.metadata.namespace}/${m.metadata.name}`).join(", ");
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
