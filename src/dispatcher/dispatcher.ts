import type { Logger } from "pino";
import type { DeliveryIdentity } from "../auth/identity.js";
import type { DeliveryContext, EventHandler } from "../../adapters/adapter.js";
import type { CloudEvent } from "../events/event.js";
import { withAttributes } from "../events/event.js";
import { parseHttpReply } from "../events/http.js";
import { nextWait, isRetryable, type DeliveryOptions, type SubscriberTarget } from "./delivery.js";
import type { Metrics } from "../metrics.js";
import type { Tracing } from "../tracing.js";
import type { Sender, SendResult } from "./sender.js";

/** Knative truncates the failed response body it puts in knativeerrordata. */
const ERROR_DATA_MAX_BYTES = 1024;

export interface DispatcherDeps {
  sender: Sender;
  logger: Logger;
  tracing: Tracing;
  metrics: Metrics;
  /**
   * Aborted when the subscription stops consuming (deleted, re-subscribed, shutdown): retry waits and
   * sends stop and the event is handed back to the backend.
   */
  signal: AbortSignal;
}

class Aborted extends Error {}

function wait(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(new Aborted("the subscription stopped"));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Aborted("the subscription stopped"));
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

function headerOf(result: SendResult, name: string): string | undefined {
  const value = result.headers?.[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Delivers one event to one subscriber with Knative's delivery semantics: retries with backoff and
 * Retry-After, a timeout per attempt, the dead-letter sink with knativeerrordest/code/data after
 * the last attempt, and the reply forwarded to `reply`. The returned handler resolves once the
 * event was delivered, dead-lettered or dropped (and counted); it rejects only when its signal
 * aborts (the subscription stopped), so the adapter keeps the event for redelivery.
 */
export function createEventHandler(target: SubscriberTarget, deps: DispatcherDeps): EventHandler {
  const { sender, logger, signal, tracing } = deps;
  const { dispatchAttempts, dispatchLatency, deadLettered, dropped, filteredOut } = deps.metrics;
  const labels = { namespace: target.namespace, name: target.name };
  // Bound once per status (undefined: no answer), so an attempt costs no label lookup or string.
  const attemptsByStatus = new Map<number | undefined, ReturnType<typeof dispatchAttempts.labels>>();
  const latency = dispatchLatency.labels(labels);
  const countAttempt = (status: number | undefined) => {
    let counter = attemptsByStatus.get(status);
    if (!counter) {
      counter = dispatchAttempts.labels({ ...labels, code: status === undefined ? "error" : String(status) });
      attemptsByStatus.set(status, counter);
    }
    counter.inc();
  };

  /** Sends with retries; resolves with the last result. */
  async function deliver(
    url: string,
    event: CloudEvent,
    delivery: DeliveryOptions,
    context: DeliveryContext,
    caCerts: string | undefined,
    identity?: DeliveryIdentity,
  ): Promise<SendResult> {
    const parent = event.attributes.traceparent;
    const traceparent = typeof parent === "string" ? parent : undefined;
    // Without tracing, no span object per delivery: the event's own context goes out as the header.
    const span = tracing.enabled
      ? tracing.start("herald.deliver", "client", traceparent, {
          "herald.subscription": `${target.namespace}/${target.name}`,
          "url.full": url,
          "cloudevents.event_id": String(event.attributes.id),
          "cloudevents.event_type": String(event.attributes.type),
        })
      : undefined;
    let result: SendResult | undefined;
    let attempts = 0;
    try {
      for (;;) {
        const started = performance.now();
        result = await sender.send(url, event, {
          timeoutMs: delivery.timeoutMs,
          signal,
          traceparent: span ? span.traceparent : traceparent,
          caCerts,
          identity,
          format: delivery.format,
        });
        latency.observe((performance.now() - started) / 1000);
        countAttempt(result.status);
        if (result.ok || attempts >= delivery.retry || !isRetryable(result.status)) return result;
        attempts++;
        const waitMs = nextWait(delivery, attempts, result.status, headerOf(result, "retry-after"));
        context.extendDeadline?.(waitMs + (delivery.timeoutMs ?? 0));
        await wait(waitMs, signal);
      }
    } finally {
      if (span) {
        span.setAttributes({ "herald.attempts": attempts + 1 });
        if (result?.status !== undefined) span.setAttributes({ "http.response.status_code": result.status });
        span.end(result?.ok ? undefined : (result?.error ?? `status ${result?.status ?? "none"}`));
      }
    }
  }

  async function deadLetter(
    event: CloudEvent,
    destination: string | undefined,
    failure: SendResult | { error: string },
    context: DeliveryContext,
  ): Promise<void> {
    const sink = target.delivery.deadLetterSink;
    const status = "status" in failure ? failure.status : undefined;
    const reason = "error" in failure && failure.error ? failure.error : `HTTP ${status ?? "error"}`;
    if (!sink) {
      dropped.inc({ ...labels, reason: "no-dead-letter-sink" });
      logger.warn(
        { subscription: labels, id: event.attributes.id, destination, reason },
        "event dropped: delivery failed and no dead-letter sink is set",
      );
      return;
    }
    const body =
      "body" in failure && failure.body && failure.body.length > 0
        ? failure.body
        : Buffer.from("error" in failure && failure.error ? failure.error : "");
    const extensions: Record<string, string | undefined> = {
      knativeerrordest: destination,
      knativeerrorcode: status === undefined ? undefined : String(status),
      knativeerrordata:
        body.length > 0 ? body.subarray(0, ERROR_DATA_MAX_BYTES).toString("base64") : undefined,
    };
    const result = await deliver(
      sink,
      withAttributes(event, extensions),
      target.delivery,
      context,
      target.delivery.deadLetterSinkCACerts,
      target.delivery.deadLetterSinkIdentity,
    );
    if (result.ok) {
      deadLettered.inc(labels);
      return;
    }
    dropped.inc({ ...labels, reason: "dead-letter-sink-failed" });
    logger.error(
      {
        subscription: labels,
        id: event.attributes.id,
        deadLetterSink: sink,
        status: result.status,
        error: result.error,
      },
      "event dropped: the dead-letter sink refused it too",
    );
  }

  /** Why the event is too old to deliver (herald.dev/max-event-age), or undefined. */
  function tooOld(event: CloudEvent): string | undefined {
    const { maxEventAgeMs } = target;
    const time = event.attributes.time;
    if (maxEventAgeMs === undefined || typeof time !== "string") return undefined;
    const age = Date.now() - Date.parse(time);
    if (!(age > maxEventAgeMs)) return undefined;
    return `event expired: its time ${time} is ${Math.round(age / 1000)} s ago, older than the subscription's max-event-age of ${maxEventAgeMs / 1000} s`;
  }

  // herald.dev/max-delivery-rate: each event to the subscriber takes the next slot, 1/rate s apart.
  const slotMs = target.maxDeliveryRate ? 1000 / target.maxDeliveryRate : 0;
  let nextSlot = 0;
  async function paced(): Promise<void> {
    if (slotMs === 0) return;
    const now = performance.now();
    const at = Math.max(now, nextSlot);
    nextSlot = at + slotMs;
    if (at > now) await wait(at - now, signal);
  }

  async function forwardReply(
    reply: CloudEvent,
    original: CloudEvent,
    context: DeliveryContext,
  ): Promise<void> {
    // A reply without its own trace context continues the trace of the event it answers.
    const traced =
      reply.attributes.traceparent === undefined && original.attributes.traceparent !== undefined
        ? withAttributes(reply, { traceparent: original.attributes.traceparent })
        : reply;
    if (!target.reply) {
      logger.debug({ subscription: labels, id: reply.attributes.id }, "reply dropped: no reply destination");
      return;
    }
    const transformed = target.transformReply ? target.transformReply(traced, original) : traced;
    if (!transformed) {
      dropped.inc({ ...labels, reason: "reply-hop-limit" });
      logger.warn(
        { subscription: labels, id: reply.attributes.id, cause: original.attributes.id },
        "reply dropped: the hop limit (knativebrokerttl) is reached, a reply loop is cut off",
      );
      return;
    }
    const result = await deliver(
      target.reply,
      transformed,
      target.delivery,
      context,
      target.replyCACerts,
      target.replyIdentity,
    );
    if (!result.ok) await deadLetter(transformed, target.reply, result, context);
  }

  return async (event, context) => {
    try {
      if (context.undecodable !== undefined) {
        await deadLetter(event, target.subscriber, { error: context.undecodable }, context);
        return;
      }
      if (target.filter && !target.filter(event)) {
        filteredOut.inc(labels);
        return;
      }
      const expired = tooOld(event);
      if (expired !== undefined) {
        await deadLetter(event, target.subscriber ?? target.reply, { error: expired }, context);
        return;
      }
      if (!target.subscriber) {
        await forwardReply(event, event, context);
        return;
      }
      await paced();
      const result = await deliver(
        target.subscriber,
        event,
        target.delivery,
        context,
        target.subscriberCACerts,
        target.subscriberIdentity,
      );
      if (!result.ok) {
        await deadLetter(event, target.subscriber, result, context);
        return;
      }
      let reply: CloudEvent | undefined;
      try {
        reply = parseHttpReply(result.status, result.headers, result.body);
      } catch (error) {
        dropped.inc({ ...labels, reason: "invalid-reply" });
        logger.warn(
          { subscription: labels, id: event.attributes.id, err: (error as Error).message },
          "the subscriber's reply is not a valid CloudEvent",
        );
      }
      if (reply) await forwardReply(reply, event, context);
    } catch (error) {
      if (error instanceof Aborted || signal.aborted) throw error;
      // A bug, not a delivery failure: count it and keep the event for redelivery.
      logger.error({ subscription: labels, id: event.attributes.id, err: error }, "dispatch failed");
      throw error;
    }
  };
}
