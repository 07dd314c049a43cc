import { readFileSync } from "node:fs";
import { setTimeout as delay } from "node:timers/promises";
import { connect, type Channel, type ChannelModel, type RecoveringChannelModel } from "amqplib";
import type { Logger } from "pino";
import { backendUnavailable, type HeraldError } from "../../src/errors.js";
import { coalesceWrites } from "./coalesce.js";
import type { RabbitmqConfig } from "./config.js";

export const BACKEND = "RabbitMQ";

/** How long a topology call waits for a connection before failing, so a reconcile never hangs. */
export const CONNECT_WAIT_MS = 5_000;

/** How long one connection attempt may take (TCP and AMQP handshake) before it counts as failed. */
const ATTEMPT_TIMEOUT_MS = 5_000;

interface Waiter {
  resolve(model: ChannelModel): void;
  reject(error: HeraldError): void;
}

/**
 * Herald's one connection to RabbitMQ, opened on first use. amqplib's recovery reconnects with
 * backoff after a loss and runs `restore` on every new connection (topology, consumers) before it
 * counts as connected. Connected means amqplib reported `connect` and no `disconnect` since; ready
 * means connected while RabbitMQ does not block publishers (a resource alarm). The AMQP heartbeat
 * RabbitMQ proposes (60 s, or `?heartbeat=` in the URL) detects a peer that vanished silently.
 */
export class RabbitmqConnection {
  private recovering: Promise<RecoveringChannelModel> | undefined;
  private firstAttempt: Promise<void> | undefined;
  private model: ChannelModel | undefined;
  private blocked: string | undefined;
  private lastError: string | undefined;
  private closed = false;
  private readonly waiters = new Set<Waiter>();

  constructor(
    private readonly config: RabbitmqConfig,
    private readonly logger: Logger,
    private readonly restore: (model: ChannelModel) => Promise<void>,
  ) {}

  /** The current connection, if connected. */
  current(): ChannelModel | undefined {
    return this.model;
  }

  /** Why RabbitMQ blocks publishers right now, if it does. */
  blockedReason(): string | undefined {
    return this.blocked;
  }

  /** Connects on first use and waits (boundedly) for the first attempt, so the answer is not a guess. */
  async isReady(): Promise<boolean> {
    if (this.closed) return false;
    await this.open().catch(() => undefined);
    const waited = new AbortController();
    await Promise.race([
      this.firstAttempt,
      delay(CONNECT_WAIT_MS, undefined, { signal: waited.signal }).catch(() => undefined),
    ]);
    waited.abort();
    return this.model !== undefined && this.blocked === undefined;
  }

  /** The connection, once there is one; rejects with BackendUnavailable when `signal` aborts first. */
  async whenConnected(signal: AbortSignal): Promise<ChannelModel> {
    await this.open();
    if (this.model) return this.model;
    return new Promise<ChannelModel>((resolve, reject) => {
      const onAbort = () => {
        this.waiters.delete(waiter);
        reject(this.notConnected());
      };
      const waiter: Waiter = {
        resolve: (model) => {
          signal.removeEventListener("abort", onAbort);
          resolve(model);
        },
        reject: (error) => {
          signal.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      if (signal.aborted) return reject(this.notConnected());
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  /** Runs `work` on a short-lived channel: a failed declaration closes that channel only. */
  async withChannel<T>(work: (amqp: Channel) => Promise<T>): Promise<T> {
    const model = await this.whenConnected(AbortSignal.timeout(CONNECT_WAIT_MS));
    return withChannelOn(model, work);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiters) waiter.reject(backendUnavailable(BACKEND, "the adapter is closed"));
    this.waiters.clear();
    const recovering = await this.recovering?.catch(() => undefined);
    await recovering?.close().catch(() => undefined);
    this.model = undefined;
  }

  private notConnected(): HeraldError {
    return backendUnavailable(
      BACKEND,
      this.lastError === undefined ? "not connected" : `not connected (${this.lastError})`,
    );
  }

  private open(): Promise<RecoveringChannelModel> {
    if (this.closed) return Promise.reject(backendUnavailable(BACKEND, "the adapter is closed"));
    this.recovering ??= this.connect().catch((error: unknown) => {
      // Reading the URL file failed: try again on the next call rather than never.
      this.recovering = undefined;
      this.lastError = (error as Error).message;
      throw backendUnavailable(BACKEND, error);
    });
    return this.recovering;
  }

  private async connect(): Promise<RecoveringChannelModel> {
    const { url, urlFile } = this.config;
    const target = urlFile ? readFileSync(urlFile, "utf8").trim() : url;
    let attempted!: () => void;
    this.firstAttempt = new Promise((resolve) => (attempted = resolve));
    const recovering = await connect(target, {
      timeout: ATTEMPT_TIMEOUT_MS,
      clientProperties: { connection_name: "herald" },
      recovery: {
        initialDelay: 200,
        maxDelay: 5_000,
        waitForConnect: false,
        setup: (model: ChannelModel) => this.setUp(model),
      },
    });
    let failing = false;
    recovering.on("connect", (model: ChannelModel) => {
      this.model = model;
      this.blocked = undefined;
      this.lastError = undefined;
      failing = false;
      attempted();
      for (const waiter of this.waiters) waiter.resolve(model);
      this.waiters.clear();
      this.logger.info("RabbitMQ connected");
    });
    recovering.on("connect-failed", (error: Error) => {
      this.lastError = error.message;
      attempted();
      // Logged once per outage, not once per attempt.
      if (!failing) this.logger.warn({ err: error.message }, "cannot connect to RabbitMQ; retrying");
      failing = true;
    });
    recovering.on("disconnect", (error: Error) => {
      this.model = undefined;
      this.blocked = undefined;
      this.lastError = error.message;
      this.logger.warn({ err: error.message }, "RabbitMQ connection lost; reconnecting");
    });
    recovering.on("blocked", (reason: string) => {
      this.blocked = reason;
      this.logger.warn({ reason }, "RabbitMQ blocks publishers");
    });
    recovering.on("unblocked", () => (this.blocked = undefined));
    recovering.on("error", (error: Error) =>
      this.logger.warn({ err: error.message }, "RabbitMQ connection error"),
    );
    return recovering;
  }

  /**
   * amqplib's recovery setup: restores topology and consumers on a new connection. It fails when
   * the connection died meanwhile, so that amqplib retries instead of adopting a dead connection.
   */
  private async setUp(model: ChannelModel): Promise<void> {
    if (!coalesceWrites(model))
      this.logger.debug("amqplib's connection has an unexpected shape: each frame is written on its own");
    let lost: Error | undefined;
    // Until amqplib adopts the connection nobody else listens: an unheard 'error' would throw.
    model.on("error", (error: Error) => (lost ??= error));
    const onClose = (error?: Error) => (lost ??= error ?? new Error("connection closed while restoring"));
    model.once("close", onClose);
    try {
      await this.restore(model);
    } finally {
      model.removeListener("close", onClose);
    }
    if (lost) throw lost;
  }
}

/** Runs `work` on a new channel of `model` and closes the channel afterwards. */
export async function withChannelOn<T>(model: ChannelModel, work: (amqp: Channel) => Promise<T>): Promise<T> {
  const amqp = await model.createChannel();
  // A failed command closes the channel with an error, which `work` sees as its rejection.
  amqp.on("error", () => undefined);
  try {
    return await work(amqp);
  } finally {
    await amqp.close().catch(() => undefined);
  }
}
