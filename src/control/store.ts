import { randomUUID } from "node:crypto";
import { chmod, link, mkdir, open, readdir, readFile, rename, stat, unlink } from "node:fs/promises";
import { isDeepStrictEqual } from "node:util";
import { join } from "node:path";
import type { Logger } from "pino";
import { HeraldError } from "../errors.js";
import type { Resource, ResourceStatus } from "../resources/common.js";
import { apiVersionOf, type KindDefinition, type KindRegistry } from "../resources/kinds.js";
import { invalidResource, type Manifest } from "../resources/validation.js";

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
   * channels Herald materialises for Channels and Brokers count, but are never refused.
   */
  readonly maxResources: number;
}

interface Snapshot {
  version: number;
  resources: Resource[];
}

type ReadResult =
  | { state: "missing" }
  | { state: "good"; saved: Snapshot }
  | { state: "corrupt"; reason: string; empty: boolean };

const SNAPSHOT_FILE = "resources.json";

/**
 * Every applied resource, in memory, persisted as one JSON snapshot (`resources.json`) in the data
 * directory.
 *
 * A change is made on a copy: the candidate snapshot is serialised and written first, and the
 * in-memory set is replaced only once that write succeeded, so a change that cannot be persisted
 * (a resource that cannot be serialised, a full disk) leaves both the memory and the file as they
 * were, and later changes still apply. Changes run one at a time in call order.
 *
 * A write replaces the snapshot atomically and durably: the temporary file is fsynced, renamed over
 * the snapshot, and the directory is fsynced, so a crash or power loss leaves either the old or the
 * new set, never half of one. The snapshot being replaced is kept as `resources.json.bak`. At start
 * a snapshot that is empty or not valid JSON is reported with its path and the backup is loaded
 * instead (the unreadable file is kept aside as `resources.json.corrupt-{time}`); temporary files left by
 * an interrupted write are removed.
 */
export class ResourceStore {
  private resources = new Map<string, Resource>();
  private readonly dataDir: string;
  private readonly kinds: KindRegistry;
  private readonly logger: Logger;
  private readonly maxResources: number;
  private readonly file: string;
  private readonly backupFile: string;
  /** Changes and writes, one at a time. */
  private queue: Promise<unknown> = Promise.resolve();
  private version = 0;
  private dirty = false;
  /** Whether the file at `file` is a good snapshot, to keep as the backup when it is replaced. */
  private fileIsGood = false;

  constructor(options: ResourceStoreOptions) {
    this.dataDir = options.dataDir;
    this.kinds = options.kinds;
    this.logger = options.logger;
    this.maxResources = options.maxResources;
    this.file = join(this.dataDir, SNAPSHOT_FILE);
    this.backupFile = `${this.file}.bak`;
  }

  async load(): Promise<void> {
    await mkdir(this.dataDir, { recursive: true, mode: 0o700 });
    const { mode } = await stat(this.dataDir);
    if ((mode & 0o077) !== 0) {
      this.logger.warn(
        { dataDir: this.dataDir, mode: (mode & 0o777).toString(8) },
        "the data directory is open to other users; it holds Secrets: make it 0700",
      );
    }
    await this.removeStaleTemporaries();
    const saved = await this.readAtStart();
    if (!saved) return;
    this.version = saved.version;
    for (const resource of saved.resources) {
      // A kind no longer known (for example after a downgrade) is kept out rather than crash the start.
      if (this.kinds.find(resource.apiVersion, resource.kind)) this.resources.set(keyOf(resource), resource);
    }
  }

  /** Which snapshot to start from: the file, its backup when the file is unreadable, or none. */
  private async readAtStart(): Promise<Snapshot | undefined> {
    const main = await readSnapshot(this.file);
    if (main.state === "good") {
      this.fileIsGood = true;
      // Written 0644 by versions before this one; it holds Secrets.
      await chmod(this.file, 0o600);
      return main.saved;
    }
    if (main.state === "missing") return undefined;
    this.logger.error(
      { file: this.file, reason: main.reason },
      "the resource snapshot is empty or not valid JSON; trying its backup",
    );
    const backup = await readSnapshot(this.backupFile);
    if (backup.state === "good") {
      const aside = `${this.file}.corrupt-${new Date().toISOString().replace(/[:.]/g, "-")}`;
      await rename(this.file, aside);
      await chmod(this.backupFile, 0o600);
      this.logger.warn(
        { file: this.backupFile, corrupt: aside, resources: backup.saved.resources.length },
        "loaded the backup snapshot; the unreadable one is kept aside",
      );
      return backup.saved;
    }
    if (main.empty && backup.state === "missing") {
      // What an interrupted first write leaves: it never held anything that was acknowledged.
      this.logger.warn(
        { file: this.file },
        "the resource snapshot is empty and has no backup: starting with none",
      );
      return undefined;
    }
    const why = backup.state === "missing" ? "does not exist" : `is not usable either (${backup.reason})`;
    throw new Error(
      `${this.file} is not a resource snapshot (${main.reason}) and its backup ${this.backupFile} ${why}; ` +
        "move them out of the data directory to start with no resources",
    );
  }

  /** Removes `resources.json.*.tmp` files a killed write left behind. */
  private async removeStaleTemporaries(): Promise<void> {
    for (const name of await readdir(this.dataDir)) {
      if (!name.startsWith(`${SNAPSHOT_FILE}.`) || !name.endsWith(".tmp")) continue;
      await unlink(join(this.dataDir, name));
      this.logger.info(
        { file: join(this.dataDir, name) },
        "removed a temporary file left by an interrupted write",
      );
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
      if (!owner && candidate.size > this.maxResources && candidate.size > this.resources.size) {
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
        await this.write(snapshot);
      } catch (error) {
        throw new HeraldError(
          "Internal",
          `the resources could not be saved in ${this.file} (${messageOf(error)}); nothing was changed`,
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

  private async write(snapshot: string): Promise<void> {
    const temporary = `${this.file}.${process.pid}.tmp`;
    try {
      const handle = await open(temporary, "w", 0o600);
      try {
        await handle.writeFile(snapshot);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await this.keepBackup();
      await rename(temporary, this.file);
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw error;
    }
    this.fileIsGood = true;
    // The rename is durable only once the directory entry is.
    const directory = await open(this.dataDir, "r");
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  }

  /** Keeps the snapshot about to be replaced as `resources.json.bak` (a hard link: no copy). */
  private async keepBackup(): Promise<void> {
    if (!this.fileIsGood) return;
    const temporary = `${this.backupFile}.${process.pid}.tmp`;
    try {
      await link(this.file, temporary);
      await rename(temporary, this.backupFile);
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      // The backup is a second chance, not a condition of the write.
      this.logger.warn(
        { file: this.backupFile, err: error },
        "could not keep the previous resource snapshot",
      );
    }
  }
}

async function readSnapshot(file: string): Promise<ReadResult> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { state: "missing" };
    throw error;
  }
  const empty = text.trim() === "";
  if (empty) return { state: "corrupt", reason: "the file is empty", empty };
  let saved: unknown;
  try {
    saved = JSON.parse(text);
  } catch (error) {
    return { state: "corrupt", reason: messageOf(error), empty };
  }
  const snapshot = saved as Partial<Snapshot> | null;
  if (typeof snapshot?.version !== "number" || !Array.isArray(snapshot.resources))
    return { state: "corrupt", reason: "not a snapshot: version or resources is missing", empty };
  return { state: "good", saved: snapshot as Snapshot };
}

function describe(manifests: readonly Manifest[]): string {
  if (manifests.length === 0) return "the resources";
  return manifests.map((m) => `${m.definition.kind} ${m.metadata.namespace}/${m.metadata.name}`).join(", ");
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
