/**
 * Small pieces the source workers share: reconnecting with backoff, and keeping track of the sends
 * in flight so that `stop()` can wait for them.
 */

/**
 * Calls `attempt` now and, after each `retry()`, again after a delay that doubles from `firstMs`
 * up to `maxMs`; `succeeded()` brings the delay back to `firstMs`. Nothing runs after `stop()`.
 */
export class Reconnector {
  private waitMs: number;
  private timer: NodeJS.Timeout | undefined;
  private stoppedFlag = false;

  constructor(
    private readonly attempt: () => Promise<void>,
    private readonly firstMs = 500,
    private readonly maxMs = 15_000,
  ) {
    this.waitMs = firstMs;
  }

  get stopped(): boolean {
    return this.stoppedFlag;
  }

  start(): void {
    void this.attempt();
  }

  retry(): void {
    if (this.stoppedFlag) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.attempt(), this.waitMs);
    this.waitMs = Math.min(this.waitMs * 2, this.maxMs);
  }

  succeeded(): void {
    this.waitMs = this.firstMs;
  }

  stop(): void {
    this.stoppedFlag = true;
    clearTimeout(this.timer);
  }
}

/** The sends a worker started and has not seen settle. */
export class InFlight {
  private readonly pending = new Set<Promise<unknown>>();

  get size(): number {
    return this.pending.size;
  }

  track(work: Promise<unknown>): void {
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work)).catch(() => undefined);
  }

  /** Resolves once every tracked send has settled. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }
}
