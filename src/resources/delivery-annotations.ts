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
  const replayFrom = annotations?.[REPLAY_FROM_ANNOTATION];
  if (replayFrom !== undefined) {
    const parsed = parseReplayFrom(replayFrom);
    if (typeof parsed === "string")
      problems.push({ path: at(`metadata.annotations["${REPLAY_FROM_ANNOTATION}"]`), message: parsed });
  }
  return problems;
}
