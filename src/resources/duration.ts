import { parse, toSeconds } from "iso8601-duration";

/** Parses an ISO-8601 duration ("PT1.5S", "P1D") to milliseconds; undefined when it is not one. */
export function durationToMs(value: string): number | undefined {
  try {
    const ms = toSeconds(parse(value)) * 1000;
    return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
  } catch {
    return undefined;
  }
}
