import { backendUnavailable, HeraldError } from "../src/errors.js";
import { isPublishLate, untilAborted, type PublishOptions } from "./adapter.js";

/**
 * How often publishes awaiting their backend's acknowledgement are checked against their deadline.
 * One sweep instead of an abort listener and a race per publish: a publish past its deadline is
 * rejected at most this much later than its deadline.
 */
export const DEADLINE_SWEEP_MS = 50;

/** Why a publish the sweep rejects failed, as untilAborted says it. */
export const NOT_ACKNOWLEDGED_IN_TIME = "no acknowledgement before the publish deadline";

interface Watched {
  readonly options: PublishOptions;
  readonly expire: (error: Error) => void;
}

/**
 * The publishes of one adapter waiting for their backend's acknowledgement, rejected with
 * BackendUnavailable once their caller's deadline passed (`PublishOptions.deadline`, else its
 * signal): one timer runs while any publish waits, none otherwise.
 */
export class PublishDeadlines {
  private readonly waiting = new Set<Watched>();
  private sweep: NodeJS.Timeout | undefined;

  constructor(private readonly backend: string) {}

  /** Watches a publish; `expire` is called once if it is late. Returns what stops watching it. */
  watch(options: PublishOptions, expire: (error: Error) => void): () => void {
    const watched: Watched = { options, expire };
    this.waiting.add(watched);
    this.sweep ??= setInterval(() => this.rejectLate(), DEADLINE_SWEEP_MS);
    return () => this.waiting.delete(watched);
  }

  /**
   * Waits for `work` until the caller's deadline, as untilAborted does for a signal: rejects with
   * BackendUnavailable once late (calling `onLate`, which may withdraw the work) and wraps the
   * backend's own errors. A caller without a deadline is waited for through its signal.
   */
  race<T>(work: Promise<T>, options: PublishOptions, onLate?: () => void): Promise<T> {
    if (options.deadline === undefined) return untilAborted(this.backend, work, options.signal, onLate);
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const unwatch = this.watch(options, (error) => {
        if (settled) return;
        settled = true;
        onLate?.();
        reject(error);
      });
      work.then(
        (value) => {
          if (settled) return;
          settled = true;
          unwatch();
          resolve(value);
        },
        (error: unknown) => {
          if (settled) return;
          settled = true;
          unwatch();
          reject(error instanceof HeraldError ? error : backendUnavailable(this.backend, error));
        },
      );
    });
  }

  /** Rejects every publish still waiting (the adapter closes: their acknowledgements cannot come). */
  close(reason: string): void {
    const waiting = [...this.waiting];
    this.waiting.clear();
    this.stop();
    for (const watched of waiting) watched.expire(backendUnavailable(this.backend, reason));
  }

  private rejectLate(): void {
    for (const watched of this.waiting) {
      if (!isPublishLate(watched.options)) continue;
      this.waiting.delete(watched);
      watched.expire(backendUnavailable(this.backend, NOT_ACKNOWLEDGED_IN_TIME));
    }
    if (this.waiting.size === 0) this.stop();
  }

  private stop(): void {
    clearInterval(this.sweep);
    this.sweep = undefined;
  }
}
