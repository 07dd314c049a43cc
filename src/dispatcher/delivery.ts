import type { DeliveryIdentity } from "../auth/identity.js";
import type { CloudEvent } from "../events/event.js";

/** A resolved Knative DeliverySpec, durations in milliseconds. */
export interface DeliveryOptions {
  /** Attempts after the first; 0 when unset. */
  retry: number;
  backoffPolicy: "linear" | "exponential";
  backoffDelayMs: number;
  /** Bound of each attempt. */
  timeoutMs?: number | undefined;
  /** Cap of a subscriber's Retry-After; unset means DEFAULT_RETRY_AFTER_MAX_MS. */
  retryAfterMaxMs?: number | undefined;
  /** Resolved absolute URL. */
  deadLetterSink?: string | undefined;
  /** PEM CAs the dead-letter sink is verified with, when it is https. */
  deadLetterSinkCACerts?: string | undefined;
  /** Who the dead-letter sink's deliveries are sent as, when it has an audience. */
  deadLetterSinkIdentity?: DeliveryIdentity | undefined;
  /** Knative's DeliverySpec `format`: `json` sends in structured mode; binary mode otherwise. */
  format?: "json" | "binary" | undefined;
}

/** One consumer's delivery target, resolved by the control plane. */
export interface SubscriberTarget {
  /** The Subscription or Trigger, for logs and metric labels. */
  namespace: string;
  name: string;
  /** Resolved URL; when absent the event goes straight to `reply`. */
  subscriber?: string | undefined;
  reply?: string | undefined;
  /** PEM CAs the subscriber and the reply destination are verified with, when they are https. */
  subscriberCACerts?: string | undefined;
  replyCACerts?: string | undefined;
  /** Who deliveries are sent as, for destinations with an audience (a signed token goes along). */
  subscriberIdentity?: DeliveryIdentity | undefined;
  replyIdentity?: DeliveryIdentity | undefined;
  delivery: DeliveryOptions;
  /** Decides before sending; false means filtered out (no HTTP call, acknowledged). */
  filter?: ((event: CloudEvent) => boolean) | undefined;
  /** Applied to a reply before it is forwarded (the hop count of Knative's TTL); undefined drops it. */
  transformReply?: ((reply: CloudEvent, original: CloudEvent) => CloudEvent | undefined) | undefined;
  /** Events whose `time` is older than this go to the dead-letter sink (herald.dev/max-event-age). */
  maxEventAgeMs?: number | undefined;
  /** Events per second sent to the subscriber at most (herald.dev/max-delivery-rate). */
  maxDeliveryRate?: number | undefined;
}

/**
 * The longest wait Herald arms: Node's timers hold 2^31 − 1 ms (about 24.8 days) and fire after 1 ms
 * for anything longer, so every wait and timeout is capped here instead.
 */
export const LONGEST_WAIT_MS = 2 ** 31 - 1;

/** The cap of a subscriber's Retry-After when the DeliverySpec sets no `retryAfterMax`: 10 minutes. */
export const DEFAULT_RETRY_AFTER_MAX_MS = 10 * 60 * 1000;

/**
 * The wait before retry number `retryNumber` (1 for the first retry), as Knative computes it:
 * linear `backoffDelay × n`, exponential `backoffDelay × 2^n`, at most LONGEST_WAIT_MS.
 */
export function backoffDelay(options: DeliveryOptions, retryNumber: number): number {
  const delay =
    options.backoffPolicy === "linear"
      ? options.backoffDelayMs * retryNumber
      : options.backoffDelayMs * 2 ** retryNumber;
  return Math.min(delay, LONGEST_WAIT_MS);
}

/**
 * Knative data-plane contract: network errors, timeouts and 404, 408, 409, 429 and 5xx are worth
 * another attempt; any other status (400, 401, 403, 413...) is final.
 */
export function isRetryable(status: number | undefined): boolean {
  if (status === undefined) return true;
  return status === 404 || status === 408 || status === 409 || status === 429 || status >= 500;
}

/** Retry-After (RFC 9110 10.2.3) as milliseconds from `now`: delay-seconds or an HTTP-date. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * The wait before the next attempt: the backoff, or the subscriber's Retry-After on 429/503 when it
 * asks for longer, capped by retryAfterMax (DEFAULT_RETRY_AFTER_MAX_MS when unset), and never above
 * LONGEST_WAIT_MS.
 */
export function nextWait(
  options: DeliveryOptions,
  retryNumber: number,
  status: number | undefined,
  retryAfter?: string,
): number {
  const backoff = backoffDelay(options, retryNumber);
  if (status !== 429 && status !== 503) return backoff;
  const requested = parseRetryAfter(retryAfter);
  if (requested === undefined) return backoff;
  const capped = Math.min(requested, options.retryAfterMaxMs ?? DEFAULT_RETRY_AFTER_MAX_MS, LONGEST_WAIT_MS);
  return Math.max(backoff, capped);
}
