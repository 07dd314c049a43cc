import { randomUUID } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { isDeepStrictEqual } from "node:util";
import { join } from "node:path";
import type { Resource, ResourceStatus } from "../resources/common.js";
import { apiVersionOf, type KindDefinition, type KindRegistry } from "../resources/kinds.js";
import type { Manifest } from "../resources/validation.js";

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

/**
 * Every applied resource, in memory, persisted as one JSON snapshot in the data directory.
 * A write replaces the snapshot atomically (write then rename), so a crash leaves either the old or
 * the new set, never half of one. Writes are serialised in call order.
 */
export class ResourceStore {
  private readonly resources = new Map<string, Resource>();
  private readonly file: string;
  private writing: Promise<void> = Promise.resolve();
  private version = 0;
  private dirty = false;

  constructor(
    private readonly dataDir: string,
    private readonly kinds: KindRegistry,
  ) {
    this.file = join(dataDir, "resources.json");
  }

  async load(): Promise<void> {
    await mkdir(this.dataDir, { recursive: true });
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    const saved = JSON.parse(text) as { version: number; resources: Resource[] };
    this.version = saved.version;
    for (const resource of saved.resources) {
      // A kind no longer known (for example after a downgrade) is kept out rather than crash the start.
      if (this.kinds.find(resource.apiVersion, resource.kind)) this.resources.set(keyOf(resource), resource);
    }
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
   * Creates or replaces resources from validated manifests. The spec changing bumps
   * metadata.generation; uid and creationTimestamp are kept across replacements.
   */
  async apply(manifests: readonly Manifest[], owner?: Resource<string, unknown>): Promise<Resource[]> {
    const applied = manifests.map((manifest) => this.put(manifest, owner));
    await this.persist();
    return applied;
  }

  private put(manifest: Manifest, owner?: Resource<string, unknown>): Resource {
    const { definition, metadata } = manifest;
    const key = resourceKey(definition.group, definition.kind, metadata.namespace, metadata.name);
    const existing = this.resources.get(key);
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
    const resource: Resource = {
      apiVersion: apiVersionOf(definition),
      kind: definition.kind,
      metadata: {
        ...metadata,
        ...(ownerReferences ? { ownerReferences } : {}),
        uid: existing?.metadata.uid ?? randomUUID(),
        generation: existing ? existing.metadata.generation + (unchanged ? 0 : 1) : 1,
        creationTimestamp: existing?.metadata.creationTimestamp ?? new Date().toISOString(),
        resourceVersion: String(++this.version),
      },
      spec: manifest.spec,
      status: existing?.status ?? {},
    };
    this.resources.set(key, resource);
    return resource;
  }

  async delete(
    definition: KindDefinition<unknown>,
    namespace: string,
    name: string,
  ): Promise<Resource | undefined> {
    const key = resourceKey(definition.group, definition.kind, namespace, name);
    const existing = this.resources.get(key);
    if (!existing) return undefined;
    this.resources.delete(key);
    await this.persist();
    return existing;
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

  async flush(): Promise<void> {
    if (this.dirty) await this.persist();
  }

  private persist(): Promise<void> {
    this.dirty = false;
    const snapshot = JSON.stringify(
      { version: this.version, resources: [...this.resources.values()] },
      null,
      1,
    );
    const write = async () => {
      const temporary = `${this.file}.${process.pid}.tmp`;
      await writeFile(temporary, snapshot);
      await rename(temporary, this.file);
    };
    this.writing = this.writing.then(write, write);
    return this.writing;
  }
}
