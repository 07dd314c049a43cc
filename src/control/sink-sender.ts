import type { Logger } from "pino";
import { isRetryable } from "../dispatcher/delivery.js";
import type { Sender } from "../dispatcher/sender.js";
import type { CloudEvent } from "../events/event.js";
import type { Metrics } from "../metrics.js";

/** Sends to a sink that does not answer 2xx are retried with this backoff until they succeed or the worker stops. */
const FIRST_RETRY_MS = 200;
const MAX_RETRY_MS = 30_000;

export interface SinkTarget {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  /** The sink's current URL (it may change while a send waits). */
  sinkUrl(): string;
  /** PEM CAs the sink is verified with when it is https (the sink's CACerts). */
  sinkCACerts?(): string | undefined;
  /** Aborted when the source stops. */
  readonly signal: AbortSignal;
}

/**
 * A source's send: until the sink accepts. Failures Knative's data plane calls retryable (no answer,
 * 404, 408, 409, 429, 5xx) are retried with backoff for as long as the worker runs; any other answer
 * is the sink refusing this event for good: it is logged, counted and reported as not accepted, so a
 * source does not hold its input back forever on one event. Rejects only when the source stops.
 */
export async function sendToSink(
  deps: { readonly sender: Sender; readonly metrics: Metrics; readonly logger: Logger },
  target: SinkTarget,
  event: CloudEvent,
): Promise<boolean> {
  const { signal } = target;
  const labels = { kind: target.kind, namespace: target.namespace, name: target.name };
  let wait = FIRST_RETRY_MS;
  for (;;) {
    if (signal.aborted) throw new Error("the source is stopping");
    const sink = target.sinkUrl();
    const result = await deps.sender.send(sink, event, { signal, caCerts: target.sinkCACerts?.() });
    if (result.ok) {
      deps.metrics.sourceEvents.inc({ ...labels, outcome: "delivered" });
      return true;
    }
    if (!isRetryable(result.status)) {
      deps.metrics.sourceEvents.inc({ ...labels, outcome: "rejected" });
      deps.logger.error(
        { sink, status: result.status, id: event.attributes.id },
        "the sink refused the event; it is not retried",
      );
      return false;
    }
    deps.logger.warn(
      { sink, status: result.status, err: result.error, retryInMs: wait },
      "the sink did not accept the event; retrying",
    );
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, wait);
      signal.addEventListener(
        "abort",
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
    wait = Math.min(wait * 2, MAX_RETRY_MS);
  }
}
