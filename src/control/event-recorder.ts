import { hostname } from "node:os";
import type { Logger } from "pino";
import type { Condition, Resource, ResourceStatus } from "../resources/common.js";
import { lastSeen, type CoreEventFields, type CoreEventResource } from "../resources/core-event.js";
import { apiVersionOf, coreKinds } from "../resources/kinds.js";
import type { Manifest } from "../resources/validation.js";
import type { ResourceStore } from "./store.js";

/** Kubernetes' default event time to live (kube-apiserver --event-ttl). */
export const EVENT_TTL_MS = 60 * 60 * 1000;
/** The most Events kept in one namespace; the oldest go first. */
export const MAX_EVENTS_PER_NAMESPACE = 1000;
/** How often expired Events are looked for besides after each recording. */
const PRUNE_EVERY_MS = 60 * 1000;
/** What Herald's Events name as their source, as a Kubernetes controller names itself. */
export const EVENT_COMPONENT = "herald";

export interface EventRecorderOptions {
  readonly store: ResourceStore;
  readonly logger: Logger;
  readonly ttlMs?: number;
  readonly maxPerNamespace?: number;
  /** The clock, in milliseconds (Date.now by default). */
  readonly now?: () => number;
  /** reportingInstance: this Herald (its host name by default). */
  readonly instance?: string;
}

/** What happened, as a Kubernetes controller records it (client-go record.EventRecorder). */
export interface EventDraft {
  readonly type: "Normal" | "Warning";
  readonly reason: string;
  readonly message: string;
}

interface Pending {
  readonly namespace: string;
  readonly name: string;
  fields: CoreEventFields;
}

/**
 * Records core v1 Events about Herald's resources, as Kubernetes controllers do: one when a
 * resource's Ready condition changes status or reason (Normal when it becomes True, Warning when
 * False), deduplicated as client-go's EventCorrelator does (the same object, type, reason and
 * message again increments `count` and moves `lastTimestamp`). Events are stored as resources, so
 * the API, kubectl and ApiServerSource see them; they never count towards HERALD_MAX_RESOURCES.
 *
 * Bounded: an Event not seen again for `ttlMs` (1 hour, Kubernetes' default) is deleted, and a
 * namespace keeps at most `maxPerNamespace` (the least recently seen go first). An Event outlives
 * the object it is about until then, as in Kubernetes. Recordings made in one turn of the event
 * loop are written together; a failed write is logged and the Events are lost, never retried.
 */
export class EventRecorder {
  private readonly ttlMs: number;
  private readonly maxPerNamespace: number;
  private readonly now: () => number;
  private readonly instance: string;
  private readonly pending = new Map<string, Pending>();
  private writes: Promise<void> = Promise.resolve();
  private scheduled = false;
  private closed = false;
  private sequence = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly options: EventRecorderOptions) {
    this.ttlMs = options.ttlMs ?? EVENT_TTL_MS;
    this.maxPerNamespace = options.maxPerNamespace ?? MAX_EVENTS_PER_NAMESPACE;
    this.now = options.now ?? Date.now;
    this.instance = options.instance ?? hostname();
    this.timer = setInterval(() => void this.prune(), PRUNE_EVERY_MS);
    this.timer.unref();
  }

  /** A status was written: records the change of its Ready condition, if any. */
  statusChanged(resource: Resource<string, unknown>, before: ResourceStatus, after: ResourceStatus): void {
    if (resource.apiVersion === "v1" && (resource.kind === "Event" || resource.kind === "Secret")) return;
    const was = readyOf(before);
    const now = readyOf(after);
    if (!now || (was && was.status === now.status && (was.reason ?? "") === (now.reason ?? ""))) return;
    // Ready Unknown without a reason says nothing yet (a resource being set up).
    if (now.status === "Unknown" && !now.reason) return;
    const what = `${resource.kind} ${resource.metadata.name}`;
    this.record(resource, {
      type: now.status === "False" ? "Warning" : "Normal",
      reason: now.reason || "Ready",
      message:
        now.message ||
        (now.status === "True" ? `${what} is ready` : `${what} is not ready (Ready is ${now.status})`),
    });
  }

  /** Records an Event about `involved`, written with the others of this turn. */
  record(involved: Resource<string, unknown>, draft: EventDraft): void {
    if (this.closed) return;
    const namespace = involved.metadata.namespace || "default";
    const key = [namespace, involved.metadata.uid, draft.type, draft.reason, draft.message].join("\u0000");
    const at = timestamp(this.now());
    const queued = this.pending.get(key);
    const existing = queued ? undefined : this.find(namespace, involved.metadata.uid, draft);
    const earlier = queued?.fields ?? existing?.spec;
    if (earlier) {
      const fields = { ...earlier, count: (earlier.count ?? 1) + 1, lastTimestamp: at };
      this.pending.set(key, { namespace, name: queued?.name ?? existing!.metadata.name, fields });
    } else {
      this.pending.set(key, {
        namespace,
        name: this.nameFor(involved),
        fields: this.fields(involved, draft, at),
      });
    }
    this.schedule();
  }

  /**
   * Deletes the Events older than the time to live, and the least recently seen beyond the limit
   * of their namespace. Runs after the writes in progress.
   */
  prune(): Promise<void> {
    this.writes = this.writes
      .then(() => this.deleteStale())
      .catch((error: unknown) => {
        this.options.logger.warn({ err: error }, "deleting expired Events failed; trying again later");
      });
    return this.writes;
  }

  /** Resolves once everything recorded is written; records nothing more after. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.writes;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.writes = this.writes
      .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
      .then(() => this.write())
      .then(() => this.deleteStale())
      .catch((error: unknown) => {
        this.options.logger.warn({ err: error }, "recording Events failed");
      });
  }

  private async write(): Promise<void> {
    this.scheduled = false;
    const batch = [...this.pending.values()];
    this.pending.clear();
    if (batch.length === 0) return;
    const definition = coreKinds.event;
    const manifests: Manifest[] = batch.map(({ namespace, name, fields }) => ({
      definition,
      apiVersion: apiVersionOf(definition),
      kind: definition.kind,
      metadata: { name, namespace },
      spec: fields,
    }));
    await this.options.store.apply(manifests);
  }

  private async deleteStale(): Promise<void> {
    const { store } = this.options;
    const now = this.now();
    const byNamespace = new Map<string, { event: CoreEventResource; seen: number }[]>();
    const stale: CoreEventResource[] = [];
    for (const event of store.list(coreKinds.event)) {
      const seen = lastSeen(event);
      if (now - seen > this.ttlMs) stale.push(event);
      else {
        const events = byNamespace.get(event.metadata.namespace) ?? [];
        events.push({ event, seen });
        byNamespace.set(event.metadata.namespace, events);
      }
    }
    for (const events of byNamespace.values()) {
      if (events.length <= this.maxPerNamespace) continue;
      events.sort((a, b) => a.seen - b.seen);
      stale.push(...events.slice(0, events.length - this.maxPerNamespace).map(({ event }) => event));
    }
    for (const event of stale)
      await store.delete(coreKinds.event, event.metadata.namespace, event.metadata.name);
  }

  /** The stored Event this draft repeats: same object, source, type, reason and message. */
  private find(namespace: string, uid: string, draft: EventDraft): CoreEventResource | undefined {
    return this.options.store
      .list(coreKinds.event, namespace)
      .find(
        ({ spec }) =>
          spec.involvedObject.uid === uid &&
          spec.source?.component === EVENT_COMPONENT &&
          spec.type === draft.type &&
          spec.reason === draft.reason &&
          spec.message === draft.message,
      );
  }

  private fields(involved: Resource<string, unknown>, draft: EventDraft, at: string): CoreEventFields {
    const { name, namespace, uid, resourceVersion } = involved.metadata;
    return {
      involvedObject: {
        apiVersion: involved.apiVersion,
        kind: involved.kind,
        name,
        ...(namespace ? { namespace } : {}),
        uid,
        ...(resourceVersion ? { resourceVersion } : {}),
      },
      reason: draft.reason,
      message: draft.message,
      type: draft.type,
      count: 1,
      firstTimestamp: at,
      lastTimestamp: at,
      source: { component: EVENT_COMPONENT },
      reportingComponent: EVENT_COMPONENT,
      reportingInstance: this.instance,
    };
  }

  /** client-go's `{name}.{unix nanoseconds in hex}`, unique within this recorder. */
  private nameFor(involved: Resource<string, unknown>): string {
    const nanos = BigInt(this.now()) * 1_000_000n + BigInt(this.sequence++ % 1_000_000);
    return `${involved.metadata.name.slice(0, 253 - 17)}.${nanos.toString(16)}`;
  }
}

function readyOf(status: ResourceStatus): Condition | undefined {
  return status.conditions?.find((condition) => condition.type === "Ready");
}

/** Kubernetes' metav1.Time: RFC 3339 to the second. */
function timestamp(milliseconds: number): string {
  return new Date(milliseconds).toISOString().replace(/\.\d{3}Z$/, "Z");
}
