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

const GO_DURATION = /^[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/;
const GO_DURATION_PART = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g;
const MS_PER_GO_UNIT: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Go's `time.ParseDuration` (`1s`, `500ms`, `1m30s`, `1.5h`, `0`), in milliseconds; undefined when
 * `text` is not one.
 */
export function parseGoDuration(text: string): number | undefined {
  if (/^[-+]?0$/.test(text)) return 0;
  if (!GO_DURATION.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(GO_DURATION_PART))
    total += Number(amount) * MS_PER_GO_UNIT[unit!]!;
  return text.startsWith("-") ? -total : total;
}
