import type { IncomingHttpHeaders } from "node:http";
import type { Logger } from "pino";
import type { z } from "zod";
import type { HeraldConfig } from "../src/config.js";
import type { CloudEvent } from "../src/events/event.js";

/**
 * The contract every source kind implements (PingSource, KafkaSource, RabbitmqSource,
 * CloudPubSubSource, GitHubSource, MqttSource, ProcessSource...).
 *
 * A source worker turns an external system into CloudEvents and hands each one to `context.send`.
 * `send` resolves only once the sink accepted the event (after the runtime's own retries, with
 * `spec.ceOverrides.extensions` applied); it rejects only when the worker is being stopped. A source
 * that can hold events in its external system (a Kafka offset, an AMQP ack, a Pub/Sub ack) must not
 * commit/ack before `send` resolved, so a sink that is down loses nothing.
 *
 * `stop()` stops taking new input, waits for sends in flight (they reject once `context.signal`
 * aborts) and releases every connection. Errors reaching the external system are reported with
 * `setCondition` (Ready=False with a reason) and retried with backoff, never thrown out of the worker.
 */
export interface SourceWorker {
  stop(): Promise<void>;
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
  readonly config: HeraldConfig;
  readonly logger: Logger;
  /** The source resource this worker runs. */
  readonly resource: { readonly namespace: string; readonly name: string; readonly uid: string };
  /** Delivers one event to the sink; see the contract above. */
  send(event: CloudEvent): Promise<void>;
  /** Sets one of the source's own status conditions (e.g. "Connected"); Ready is derived. */
  setCondition(type: string, status: "True" | "False" | "Unknown", reason?: string, message?: string): void;
  /** A file path where the worker may persist a small state across restarts (e.g. the last fire time). */
  readonly stateFile: string;
  /** Aborted when the worker is stopped. */
  readonly signal: AbortSignal;
}

export interface SourceFactory<Spec extends Record<string, unknown> = Record<string, unknown>> {
  readonly group: string;
  readonly versions: readonly string[];
  readonly kind: string;
  readonly plural: string;
  readonly shortNames: readonly string[];
  /** The kind's spec, without `sink` and `ceOverrides` (the runtime adds and handles those). */
  readonly specSchema: z.ZodType<Spec>;
  start(spec: Spec, context: SourceContext): Promise<SourceWorker>;
}
