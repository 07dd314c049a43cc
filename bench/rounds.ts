/**
 * Rounds of a closed-loop case with a JVM ceiling: each round measures the ceiling tool, the raw
 * client and Herald one after the other (so the runs of each are interleaved with the others'), and
 * the case reports every round with the median and range of the figures it names.
 */
import { spread, type Spread } from "./open.js";

export async function inRounds<T>(
  runs: number,
  label: string,
  round: (index: number) => Promise<T>,
): Promise<T[]> {
  const results: T[] = [];
  for (let index = 1; index <= runs; index++) {
    console.error(`[${label}] round ${index}/${runs}`);
    results.push(await round(index));
  }
  return results;
}

/** The median and range over the rounds of each named figure. */
export function summariseRounds<T>(
  rounds: T[],
  figures: Record<string, (round: T) => number | undefined>,
): Record<string, Spread | undefined> {
  return Object.fromEntries(
    Object.entries(figures).map(([name, pick]) => [
      name,
      spread(
        rounds.map(pick).filter((value): value is number => value !== undefined && Number.isFinite(value)),
      ),
    ]),
  );
}

/** `value / baseline` of two medians, to three decimals. */
export function medianRatio(value: Spread | undefined, baseline: Spread | undefined): number | undefined {
  if (!value || !baseline?.median) return undefined;
  return Math.round((value.median / baseline.median) * 1000) / 1000;
}
