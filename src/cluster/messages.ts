import { HeraldError, type ErrorCode } from "../errors.js";
import type { Resource, ResourceStatus } from "../resources/common.js";
import type { Snapshot } from "../control/snapshot-file.js";
import type { Manifest } from "../resources/validation.js";

/**
 * What the primary of `herald serve --workers N` and its workers say to each other over the cluster
 * IPC channel (structured clone: `serialization: "advanced"`). Every message carries a `type`
 * starting with `herald:`, so prom-client's own metrics messages on the same channel pass by.
 *
 * The primary owns the resource store: workers send it their changes as requests and it answers
 * each one after it has broadcast the new set to every worker, so the worker that asked already
 * holds the change when its request resolves. Only the leading worker sends statuses.
 */

/** A validated manifest without its kind definition (the primary finds it again by apiVersion and kind). */
export interface WireManifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: Manifest["metadata"];
  readonly spec: Record<string, unknown>;
}

export type StoreRequest =
  | { readonly op: "hello" }
  | { readonly op: "apply"; readonly manifests: readonly WireManifest[]; readonly owner?: Resource }
  | {
      readonly op: "delete";
      readonly apiVersion: string;
      readonly kind: string;
      readonly namespace: string;
      readonly name: string;
    }
  | { readonly op: "flush" }
  | { readonly op: "metrics" };

/** What the primary answers `hello` with: the worker's role and the set to start from. */
export interface Welcome {
  /** The worker's slot, 0 to N-1; a restarted worker takes the slot of the one it replaces. */
  readonly worker: number;
  readonly leads: boolean;
  readonly snapshot: Snapshot;
}

export type WorkerMessage =
  | { readonly type: "herald:request"; readonly id: number; readonly request: StoreRequest }
  | {
      readonly type: "herald:status";
      readonly resource: Pick<Resource, "apiVersion" | "kind" | "metadata">;
      readonly status: ResourceStatus;
    }
  | { readonly type: "herald:ready"; readonly url: string; readonly apiUrl: string }
  | { readonly type: "herald:reconciled"; readonly id: number };

export interface WireError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly details?: unknown;
}

export type PrimaryMessage =
  | {
      readonly type: "herald:response";
      readonly id: number;
      readonly value?: unknown;
      readonly error?: WireError;
    }
  | { readonly type: "herald:snapshot"; readonly snapshot: Snapshot }
  /** To the leader: run a reconcile pass (with its status flush), then answer `herald:reconciled`. */
  | { readonly type: "herald:reconcile"; readonly id: number }
  | { readonly type: "herald:stop" };

export function isHeraldMessage<T extends { type: string }>(message: unknown): message is T {
  return (
    typeof message === "object" &&
    message !== null &&
    typeof (message as { type?: unknown }).type === "string" &&
    (message as { type: string }).type.startsWith("herald:")
  );
}

/** An error as it crosses the channel: a HeraldError keeps its code and details. */
export function toWire(error: unknown): WireError {
  if (error instanceof HeraldError)
    return { code: error.code, message: error.message, details: error.details };
  return { code: "Internal", message: error instanceof Error ? error.message : String(error) };
}

export function fromWire(error: WireError): HeraldError {
  return new HeraldError(error.code, error.message, error.details);
}
