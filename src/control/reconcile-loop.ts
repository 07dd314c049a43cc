import type { Logger } from "pino";
import type { Metrics } from "../metrics.js";
import type { ResourceStore } from "./store.js";

/**
 * Runs reconcile passes one at a time: on every change (apply, delete, a source's status) and every
 * `resyncMs`. Each pass derives the desired state from the store again, so a Subscription whose
 * channel appears later becomes Ready by itself and a backend that was down is retried; the store's
 * changed statuses are written once at the end of the pass.
 */
export class ReconcileLoop {
  private queue: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly pass: () => Promise<void>,
    private readonly store: ResourceStore,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {}

  start(resyncMs: number): Promise<void> {
    this.timer = setInterval(() => void this.run(), resyncMs);
    this.timer.unref();
    return this.run();
  }

  /** Runs one pass after the ones already queued; resolves when it ran. Never rejects. */
  run(): Promise<void> {
    const pass = async () => {
      if (this.stopped) return;
      try {
        await this.pass();
        await this.store.flush();
        this.metrics.reconcilePasses.inc();
      } catch (error) {
        this.logger.error({ err: error }, "reconcile failed");
      }
    };
    this.queue = this.queue.then(pass, pass);
    return this.queue;
  }

  /** Stops resyncing and waits for the pass in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.queue;
    this.stopped = true;
  }
}
