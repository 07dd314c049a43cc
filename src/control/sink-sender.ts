import type { Logger } from "pino";
import type { DeliveryIdentity } from "../auth/identity.js";
import { isRetryable, nextWait, type DeliveryOptions } from "../dispatcher/delivery.js";
import type { Sender } from "../dispatcher/sender.js";
import { withAttributes, type CloudEvent } from "../events/event.js";
import type { Metrics } from "../metrics.js";

/** Sends to a sink that does not answer 2xx are retried with this backoff until they succeed or the worker stops. */
const FIRST_RETRY_MS = 200;
const MAX_RETRY_MS = 30_000;
/** Knative truncates the failed response body it puts in knativeerrordata. */
const ERROR_DATA_MAX_BYTES = 1024;

export interface SinkTarget {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  /** The sink's current URL (it may change while a send waits). */
  sinkUrl(): string;
  /** PEM CAs the sink is verified with when it is https (the sink's CACerts). */
  sinkCACerts?(): string | undefined;
  /** Who the source sends as to its sink, when the sink has an audience (a signed token goes along). */
  sinkIdentity?(): DeliveryIdentity | undefined;
  /** Aborted when the source stops. */
  readonly signal: AbortSignal;
  /**
   * The source's `spec.delivery`, resolved: when set, a send is retried `retry` times with its
   * backoff, then goes to its dead-letter sink (or is dropped), as Knative's KafkaSource and
   * RabbitmqSource dispatchers do; when unset, a send is retried until the sink accepts.
   */
  delivery?(): DeliveryOptions | undefined;
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
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
  const delivery = target.delivery?.();
  if (delivery) return sendWithDelivery(deps, target, event, delivery);
  let wait = FIRST_RETRY_MS;
  for (;;) {
    if (signal.aborted) throw new Error("the source is stopping");
    const sink = target.sinkUrl();
    const result = await deps.sender.send(sink, event, {
      signal,
      caCerts: target.sinkCACerts?.(),
      identity: target.sinkIdentity?.(),
    });
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
    await pause(wait, signal);
    wait = Math.min(wait * 2, MAX_RETRY_MS);
  }
}

/** Sends with `delivery`'s retries; resolves with the last answer. Rejects only when the source stops. */
async function attempt(
  deps: { readonly sender: Sender },
  url: string,
  event: CloudEvent,
  delivery: DeliveryOptions,
  signal: AbortSignal,
  caCerts: string | undefined,
  identity?: DeliveryIdentity,
) {
  for (let retries = 0; ;) {
    if (signal.aborted) throw new Error("the source is stopping");
    const result = await deps.sender.send(url, event, {
      signal,
      caCerts,
      timeoutMs: delivery.timeoutMs,
      identity,
      format: delivery.format,
    });
    if (result.ok || retries >= delivery.retry || !isRetryable(result.status)) return result;
    retries++;
    const retryAfter = result.headers?.["retry-after"];
    await pause(
      nextWait(delivery, retries, result.status, Array.isArray(retryAfter) ? retryAfter[0] : retryAfter),
      signal,
    );
  }
}

/**
 * A send under the source's `spec.delivery`: `retry` retries with its backoff, then the dead-letter
 * sink receives the event with knativeerrordest, knativeerrorcode and knativeerrordata (Knative's
 * dead-letter extensions); without a dead-letter sink, the event is dropped, logged and counted.
 * Resolves true only when the sink itself accepted.
 */
async function sendWithDelivery(
  deps: { readonly sender: Sender; readonly metrics: Metrics; readonly logger: Logger },
  target: SinkTarget,
  event: CloudEvent,
  delivery: DeliveryOptions,
): Promise<boolean> {
  const { signal } = target;
  const labels = { kind: target.kind, namespace: target.namespace, name: target.name };
  const sink = target.sinkUrl();
  const result = await attempt(
    deps,
    sink,
    event,
    delivery,
    signal,
    target.sinkCACerts?.(),
    target.sinkIdentity?.(),
  );
  if (result.ok) {
    deps.metrics.sourceEvents.inc({ ...labels, outcome: "delivered" });
    return true;
  }
  if (signal.aborted) throw new Error("the source is stopping");
  const deadLetterSink = delivery.deadLetterSink;
  if (!deadLetterSink) {
    deps.metrics.sourceEvents.inc({ ...labels, outcome: "dropped" });
    deps.logger.error(
      { sink, status: result.status, err: result.error, id: event.attributes.id },
      "event dropped: the sink did not accept it after spec.delivery's retries and no dead-letter sink is set",
    );
    return false;
  }
  const body = result.body && result.body.length > 0 ? result.body : Buffer.from(result.error ?? "");
  const dead = withAttributes(event, {
    knativeerrordest: sink,
    knativeerrorcode: result.status === undefined ? undefined : String(result.status),
    knativeerrordata: body.length > 0 ? body.subarray(0, ERROR_DATA_MAX_BYTES).toString("base64") : undefined,
  });
  const dlsResult = await attempt(
    deps,
    deadLetterSink,
    dead,
    delivery,
    signal,
    delivery.deadLetterSinkCACerts,
    delivery.deadLetterSinkIdentity,
  );
  if (dlsResult.ok) {
    deps.metrics.sourceEvents.inc({ ...labels, outcome: "dead-lettered" });
    return false;
  }
  if (signal.aborted) throw new Error("the source is stopping");
  deps.metrics.sourceEvents.inc({ ...labels, outcome: "dropped" });
  deps.logger.error(
    { deadLetterSink, status: dlsResult.status, err: dlsResult.error, id: event.attributes.id },
    "event dropped: the dead-letter sink refused it too",
  );
  return false;
}
