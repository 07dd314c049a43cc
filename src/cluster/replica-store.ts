import type { Registry } from "prom-client";
import { HeraldError } from "../errors.js";
import type { Snapshot } from "../control/snapshot-file.js";
import { keyOf, ResourceStore, type ResourceStoreOptions } from "../control/store.js";
import type { Resource, ResourceStatus } from "../resources/common.js";
import { apiVersionOf, type KindDefinition } from "../resources/kinds.js";
import type { Manifest } from "../resources/validation.js";
import {
  fromWire,
  isHeraldMessage,
  type PrimaryMessage,
  type StoreRequest,
  type WorkerMessage,
} from "./messages.js";

/** What a Herald that is one worker of `serve --workers N` is given (src/cluster/worker.ts). */
export interface HeraldWorker {
  readonly store: ReplicaStore;
  /** The leading worker loads the config folder, runs the sources and writes status. */
  readonly leads: boolean;
  /** /metrics: every worker's metrics, summed by the primary. */
  readonly registry: Registry;
}

/**
 * A worker's end of the IPC channel to the primary: requests that resolve with the primary's
 * answer, notifications, and the primary's broadcasts. Requests still open when the primary goes
 * away reject (Internal), they are never left hanging.
 */
export class PrimaryLink {
  private next = 0;
  private readonly pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void }
  >();
  onSnapshot: (snapshot: Snapshot) => void = () => undefined;
  onStop: () => void = () => undefined;
  onReconcile: () => Promise<void> = () => Promise.resolve();

  constructor() {
    process.on("message", (message) => this.receive(message));
    process.on("disconnect", () => {
      for (const { reject } of this.pending.values())
        reject(new HeraldError("Internal", "the primary process of serve --workers is gone"));
      this.pending.clear();
      this.onStop();
    });
  }

  ask<T>(request: StoreRequest): Promise<T> {
    if (!process.connected)
      return Promise.reject(new HeraldError("Internal", "the primary process of serve --workers is gone"));
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.tell({ type: "herald:request", id, request });
    });
  }

  tell(message: WorkerMessage): void {
    if (process.connected) process.send?.(message);
  }

  private receive(message: unknown): void {
    if (!isHeraldMessage<PrimaryMessage>(message)) return;
    switch (message.type) {
      case "herald:response": {
        const waiting = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.error) waiting?.reject(fromWire(message.error));
        else waiting?.resolve(message.value);
        return;
      }
      case "herald:snapshot":
        this.onSnapshot(message.snapshot);
        return;
      case "herald:stop":
        this.onStop();
        return;
      case "herald:reconcile": {
        const { id } = message;
        void this.onReconcile().finally(() => this.tell({ type: "herald:reconciled", id }));
        return;
      }
    }
  }
}

/**
 * The resource store of one worker of `serve --workers N`: a copy of the primary's store, replaced
 * by each set the primary broadcasts. Applies and deletes are made by the primary (which writes the
 * snapshot file) and resolve once this copy holds them. Only the leading worker writes statuses, so
 * every worker shows the same status.conditions; on the others `setStatus` changes nothing.
 */
export class ReplicaStore extends ResourceStore {
  private listener: () => Promise<void> = () => Promise.resolve();

  constructor(
    options: ResourceStoreOptions,
    private readonly link: PrimaryLink,
    readonly leads: boolean,
    snapshot: Snapshot,
  ) {
    super(options);
    this.follow(snapshot);
    link.onSnapshot = (next) => {
      this.follow(next);
      void this.listener();
    };
    link.onReconcile = () => this.listener();
  }

  /**
   * Runs a reconcile pass: after every set the primary sends (another worker's apply, the leader's
   * statuses), and on the leader when the primary asks for the status of another worker's apply.
   */
  onChange(listener: () => Promise<void>): void {
    this.listener = listener;
  }

  /** The set came with the primary's welcome. */
  override load(): Promise<void> {
    return Promise.resolve();
  }

  override apply(manifests: readonly Manifest[], owner?: Resource<string, unknown>): Promise<Resource[]> {
    return this.link.ask<Resource[]>({
      op: "apply",
      manifests: manifests.map(({ apiVersion, kind, metadata, spec }) => ({
        apiVersion,
        kind,
        metadata,
        spec,
      })),
      owner: owner && { ...owner, spec: {}, status: {} },
    });
  }

  override delete(
    definition: KindDefinition<unknown>,
    namespace: string,
    name: string,
  ): Promise<Resource | undefined> {
    return this.link.ask<Resource | undefined>({
      op: "delete",
      apiVersion: apiVersionOf(definition),
      kind: definition.kind,
      namespace,
      name,
    });
  }

  override setStatus(resource: Resource<string, unknown>, status: ResourceStatus): boolean {
    if (!this.leads || !super.setStatus(resource, status)) return false;
    const { apiVersion, kind, metadata } = resource;
    this.link.tell({ type: "herald:status", resource: { apiVersion, kind, metadata }, status });
    return true;
  }

  override flush(): Promise<void> {
    return this.leads ? this.link.ask<void>({ op: "flush" }) : Promise.resolve();
  }

  private follow(snapshot: Snapshot): void {
    this.resources = new Map(snapshot.resources.map((resource) => [keyOf(resource), resource]));
    this.version = snapshot.version;
  }
}
