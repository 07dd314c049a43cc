import type { IncomingHttpHeaders } from "node:http";
import type { Logger } from "pino";
import { z } from "zod";
import type { ConfigSlice } from "../src/config-slice.js";
import type { CloudEvent } from "../src/events/event.js";

/**
 * The contract every source kind implements (PingSource, KafkaSource, RabbitmqSource,
 * CloudPubSubSource, GitHubSource, MqttSource, ProcessSource...).
 *
 * A source worker turns an external system into CloudEvents and hands each one to `context.send`.
 * `send` resolves only once the sink accepted the event (after the runtime's own retries, with
 * `spec.ceOverrides.extensions` applied) or refused it for good; it rejects only when the worker
 * is being stopped. A source
 * that can hold events in its external system (a Kafka offset, an AMQP ack, a Pub/Sub ack) must not
 * commit/ack before `send` resolved, so a sink that is down loses nothing.
 *
 * `stop()` stops taking new input, waits for sends in flight (they reject once `context.signal`
 * aborts) and releases every connection. Errors reaching the external system are reported with
 * `setCondition` (Ready=False with a reason) and retried with backoff, never thrown out of the worker.
 */
export interface SourceWorker {
  /** `deleted` when the resource is gone (remove what the source created), `stopped` otherwise. */
  stop(reason: "deleted" | "stopped"): Promise<void>;
  /** For sources that receive HTTP (GitHubSource): one request to the source's address. */
  handleRequest?(request: SourceRequest): Promise<SourceResponse>;
}

export interface SourceRequest {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface SourceResponse {
  readonly status: number;
  readonly body?: string | undefined;
}

export interface SourceContext {
  /** One of the configuration slices the source kind declared (`SourceFactory.config`), validated. */
  configOf<Config>(slice: ConfigSlice<Config>): Config;
  readonly logger: Logger;
  /** The source resource this worker runs. */
  readonly resource: { readonly namespace: string; readonly name: string; readonly uid: string };
  /**
   * Delivers one event to the sink; see the contract above. Resolves true once the sink accepted
   * it, false when the sink refused it for good (a non-retryable answer such as 400).
   */
  send(event: CloudEvent): Promise<boolean>;
  /** The sink's URL and the JSON of `spec.ceOverrides`, for workers that hand them on (ProcessSource). */
  readonly sinkUrl: () => string;
  readonly ceOverrides: Readonly<Record<string, string>>;
  /** Sets one of the source's own status conditions (e.g. "Connected"); Ready is derived. */
  setCondition(type: string, status: "True" | "False" | "Unknown", reason?: string, message?: string): void;
  /**
   * Reads one key of a v1 Secret in the source's namespace (Knative's `secretKeyRef`), decoded;
   * throws naming the Secret or key when it is missing.
   */
  secret(ref: { name: string; key: string }): string;
  /**
   * The environment for a process the source starts: `extra` over an allow-list of Herald's own
   * variables (PATH, HOME, LANG, TZ), never Herald's secrets.
   */
  childEnvironment(extra: Record<string, string>): Record<string, string>;
  /** Sets fields of the source's `status` besides the conditions (e.g. ProcessSource's `lastExit`). */
  setStatusFields(fields: Record<string, unknown>): void;
  /**
   * Herald's own resources of a kind, read from its store (ApiServerSource): the kind's plural and
   * its resources, in `namespace` or in every namespace; undefined when Herald serves no such kind.
   */
  listResources(
    apiVersion: string,
    kind: string,
    namespace?: string,
  ): { plural: string; items: readonly StoredResource[] } | undefined;
  /** Herald's resource API address (an ApiServerSource's `source`, as the API server's URL is in Knative). */
  readonly apiUrl: string;
  /** A file path where the worker may persist a small state across restarts (e.g. the last fire time). */
  readonly stateFile: string;
  /** Aborted when the worker is stopped. */
  readonly signal: AbortSignal;
}

/** A stored resource as the resource API serves it (a plain object, never mutated by a worker). */
export interface StoredResource {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly uid: string;
    readonly resourceVersion?: string | undefined;
    readonly labels?: Readonly<Record<string, string>> | undefined;
    readonly ownerReferences?: readonly { readonly apiVersion: string; readonly kind: string }[] | undefined;
  };
  readonly spec: unknown;
  readonly status: unknown;
}

export interface SourceFactory<Schema extends z.ZodObject = z.ZodObject> {
  readonly group: string;
  readonly versions: readonly string[];
  readonly kind: string;
  readonly plural: string;
  readonly shortNames: readonly string[];
  /** Resources of the kind run code on Herald's host: applying one needs the API's admin role. */
  readonly privileged?: boolean | undefined;
  /**
   * Resources of the kind run a process on Herald's host (ProcessSource): the kernel runs them only
   * when Herald was started with `--allow-process-sources` or they come from the `--config` folder,
   * and refuses them at apply otherwise.
   */
  readonly runsProcesses?: boolean | undefined;
  /**
   * For a kind that `runsProcesses`: whether this resource does (a ContainerSource running an image
   * Herald runs natively does not, so the kernel runs it without `--allow-process-sources`). Absent:
   * every resource of the kind does.
   */
  runsProcess?(spec: z.output<Schema>): boolean;
  /**
   * The kind takes Knative's `spec.filters` (SubscriptionsAPI filters, as ApiServerSource does): the
   * runtime checks them at apply and sends only the events they match.
   */
  readonly filters?: boolean | undefined;
  /** The kind's spec, without `sink` and `ceOverrides` (the runtime adds and handles those). */
  readonly specSchema: Schema;
  /** The configuration slices the kind reads (e.g. a backend's connection settings). */
  readonly config?: readonly ConfigSlice[] | undefined;
  /**
   * The event types and source the kind emits, for `status.ceAttributes` (Knative's SourceStatus);
   * undefined when this resource's are not known (a ContainerSource's command sends what it sends).
   */
  ceAttributes?(
    spec: z.output<Schema>,
    resource: SourceContext["resource"],
  ): { type: string; source: string }[] | undefined;
  start(spec: z.output<Schema>, context: SourceContext): Promise<SourceWorker>;
}

/** Declares a source kind; erases its spec type once, for the plug-in list. */
export function defineSource<Schema extends z.ZodObject>(factory: SourceFactory<Schema>): SourceFactory {
  return factory;
}

/** Knative's core/v1 SecretKeySelector, as sources reference credentials. */
export const secretKeySelectorSchema = z.object({
  secretKeyRef: z.object({
    name: z.string({ error: "is required" }).min(1, "is required"),
    key: z.string({ error: "is required" }).min(1, "is required"),
  }),
});

/** Knative's source URI form: `/apis/v1/namespaces/{namespace}/{plural}/{name}`. */
export function sourceUri(plural: string, resource: { namespace: string; name: string }): string {
  return `/apis/v1/namespaces/${resource.namespace}/${plural}/${resource.name}`;
}
