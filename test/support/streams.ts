import { postEvent } from "./herald.js";
import type { Receiver } from "./receiver.js";

/**
 * Posts `count` events (ids `${prefix}-0`...) to `url`, a few at a time, and records which ones
 * were answered 202. Requests that fail (Herald down, 503) are simply not accepted; the stream goes
 * on. `during(i)` runs before event i is posted (to crash or restart something mid-stream).
 */
export async function postStream(
  url: () => string,
  count: number,
  prefix: string,
  during?: (index: number) => Promise<void>,
): Promise<Set<string>> {
  const accepted = new Set<string>();
  const batch = 5;
  for (let start = 0; start < count; start += batch) {
    for (let i = start; i < Math.min(count, start + batch); i++) await during?.(i);
    await Promise.all(
      Array.from({ length: Math.min(batch, count - start) }, async (_, offset) => {
        const id = `${prefix}-${start + offset}`;
        const status = await postEvent(url(), { id }).catch(() => 0);
        if (status === 202) accepted.add(id);
      }),
    );
  }
  return accepted;
}

/** The accepted ids the receiver has not seen yet. */
export function missing(accepted: Set<string>, receiver: Receiver): string[] {
  const seen = new Set(receiver.requests.map((r) => String(r.headers["ce-id"])));
  return [...accepted].filter((id) => !seen.has(id));
}
