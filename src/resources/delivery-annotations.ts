import { durationToMs } from "./duration.js";
import type { Problem } from "./validation.js";

/**
 * Herald's annotations on a Subscription or a Trigger about how its events are consumed, checked at
 * apply (a problem names the annotation) and read once per generation by the control plane.
 */

/**
 * Where a new Subscription or Trigger starts: `beginning`, an RFC 3339 time, or an offset in the
 * backend's terms. Applied once, when it first runs (recorded in `status.replay.start`).
 */
export const REPLAY_FROM_ANNOTATION = "herald.dev/replay-from";

/**
 * The oldest event a Subscription or Trigger delivers, an ISO 8601 duration (`PT1H`). An event whose
 * CloudEvents `time` is further in the past goes to the dead-letter sink instead, with the reason in
 * knativeerrordata; an event without `time` has no age and is delivered.
 */
export const MAX_EVENT_AGE_ANNOTATION = "herald.dev/max-event-age";

/** The most events per second a Subscription or Trigger sends to its subscriber (a decimal, > 0). */
export const MAX_DELIVERY_RATE_ANNOTATION = "herald.dev/max-delivery-rate";

/** The highest max-delivery-rate accepted: above it a limit means nothing. */
const MAX_RATE = 1_000_000;

/** The delivery limits of a Subscription's or Trigger's annotations (absent when not set or invalid). */
export interface DeliveryLimits {
  readonly maxEventAgeMs?: number | undefined;
  readonly maxDeliveryRate?: number | undefined;
}

function eventAgeOf(value: string): number | string {
  const ms = durationToMs(value.trim());
  if (ms === undefined || ms <= 0)
    return `must be a positive ISO 8601 duration such as PT1H or P1D, not ${JSON.stringify(value)}`;
  return ms;
}

function deliveryRateOf(value: string): number | string {
  const text = value.trim();
  const rate = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(rate > 0) || rate > MAX_RATE)
    return `must be a number of events per second above 0 and at most ${MAX_RATE}, not ${JSON.stringify(value)}`;
  return rate;
}

/** The limits set by the annotations; a value that is not valid (refused at apply) sets none. */
export function deliveryLimitsOf(annotations: Record<string, string> | undefined): DeliveryLimits {
  const age = annotations?.[MAX_EVENT_AGE_ANNOTATION];
  const rate = annotations?.[MAX_DELIVERY_RATE_ANNOTATION];
  const maxEventAgeMs = age === undefined ? undefined : eventAgeOf(age);
  const maxDeliveryRate = rate === undefined ? undefined : deliveryRateOf(rate);
  return {
    ...(typeof maxEventAgeMs === "number" ? { maxEventAgeMs } : {}),
    ...(typeof maxDeliveryRate === "number" ? { maxDeliveryRate } : {}),
  };
}

/** Where a replay starts (the shape of adapters' ReplayPosition). */
export type ReplayFrom =
  | { readonly from: "beginning" }
  | { readonly from: "time"; readonly time: Date }
  | { readonly from: "offset"; readonly offset: number };

/** RFC 3339 date-time (section 5.6), with a time zone offset or Z. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Reads a replay start: `beginning`, an RFC 3339 time (`2026-12-07T16:00:00Z`) or a non-negative
 * integer offset. A string says what is wrong with it.
 */
export function parseReplayFrom(value: unknown): ReplayFrom | string {
  if (typeof value !== "string" || value.trim() === "")
    return 'must be "beginning", an RFC 3339 time (2026-12-07T16:00:00Z) or a non-negative integer offset';
  const text = value.trim();
  if (text === "beginning") return { from: "beginning" };
  if (/^\d+$/.test(text)) {
    const offset = Number(text);
    return Number.isSafeInteger(offset) ? { from: "offset", offset } : `offset ${text} is too large`;
  }
  if (RFC3339.test(text)) {
    const time = new Date(text);
    if (!Number.isNaN(time.getTime())) return { from: "time", time };
  }
  return `${JSON.stringify(text)} is not "beginning", an RFC 3339 time (2026-12-07T16:00:00Z) or a non-negative integer offset`;
}

/** The problems of Herald's consumption annotations on a Subscription or Trigger. */
export function deliveryAnnotationProblems(
  annotations: Record<string, string> | undefined,
  at: (path: string) => string,
): Problem[] {
  const problems: Problem[] = [];
  const path = (name: string) => at(`metadata.annotations["${name}"]`);
  const age = annotations?.[MAX_EVENT_AGE_ANNOTATION];
  const ageProblem = age === undefined ? undefined : eventAgeOf(age);
  if (typeof ageProblem === "string")
    problems.push({ path: path(MAX_EVENT_AGE_ANNOTATION), message: ageProblem });
  const rate = annotations?.[MAX_DELIVERY_RATE_ANNOTATION];
  const rateProblem = rate === undefined ? undefined : deliveryRateOf(rate);
  if (typeof rateProblem === "string")
    problems.push({ path: path(MAX_DELIVERY_RATE_ANNOTATION), message: rateProblem });
  const replayFrom = annotations?.[REPLAY_FROM_ANNOTATION];
  if (replayFrom !== undefined) {
    const parsed = parseReplayFrom(replayFrom);
    if (typeof parsed === "string")
      problems.push({ path: at(`metadata.annotations["${REPLAY_FROM_ANNOTATION}"]`), message: parsed });
  }
  return problems;
}
