import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { backendUnavailable, type HeraldError } from "../../src/errors.js";
import { connectionOptions, type NatsConfig } from "./config.js";

/** A live connection with its JetStream client and manager. */
export interface Session {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
}

/** Waits at most `ms` for `work`; undefined when it did not settle in time or failed. */
export async function within<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([work.catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One NATS connection per adapter. The first connection is retried (100 ms doubling to 2 s) until it
 * succeeds or the adapter closes; after that the client reconnects by itself, forever. While NATS is
 * known to be unreachable (a failed attempt, a lost connection), `ready()` fails at once with
 * BackendUnavailable rather than queueing, so ingress answers 503 without waiting for its deadline.
 * After every reconnection `restore` runs (the adapter declares its streams and consumers again: a
 * memory stream does not survive a server restart), retried until it succeeds; only then does the
 * connection count as ready, so no event is published into a stream whose consumers are not back yet.
 */
export class NatsConnectionManager {
  private current: Session | undefined;
  private connecting: Promise<Session> | undefined;
  private connected = false;
  private lastError: unknown;
  private closed = false;
  /** Ends the pauses between attempts, on close. */
  private readonly wakers = new Set<() => void>();
  /** Settles when the current connection attempt has failed once (or succeeded). */
  private attempted: Promise<void> | undefined;
  private onAttempt: (() => void) | undefined;
  /** Counts reconnections, so that a restore outlived by a newer reconnection stops. */
  private reconnections = 0;

  constructor(
    private readonly settings: NatsConfig,
    private readonly logger: Logger,
    private readonly restore: (session: Session) => Promise<void>,
  ) {}

  /** The session, waiting for the connection (re)established if need be. */
  private session(): Promise<Session> {
    if (this.current) return Promise.resolve(this.current);
    if (!this.connecting) {
      this.attempted = new Promise((resolve) => (this.onAttempt = resolve));
      const attempt = this.connectUntilClosed();
      attempt.catch(() => undefined);
      this.connecting = attempt;
    }
    return this.connecting;
  }

  /**
   * The session when NATS is reachable now. Rejects with BackendUnavailable at once when it is known
   * not to be, and after the first failed attempt of a new connection.
   */
  async ready(): Promise<Session> {
    if (this.current && this.connected) return this.current;
    if (this.closed) throw this.unavailable("the adapter is closed");
    if (this.current) throw this.unavailable("connection lost; reconnecting");
    const session = this.session();
    if (this.lastError === undefined) await Promise.race([session, this.attempted]);
    if (this.current && this.connected) return this.current;
    throw this.unavailable(this.lastError ?? "not connected");
  }

  /** The session when connected and restored, without waiting: the publish fast path. */
  connectedSession(): Session | undefined {
    return this.connected ? this.current : undefined;
  }

  private unavailable(cause: unknown): HeraldError {
    return backendUnavailable("NATS", cause);
  }

  private async connectUntilClosed(): Promise<Session> {
    let delay = 100;
    for (;;) {
      if (this.closed) throw this.unavailable("the adapter is closed");
      try {
        const nc = await connect({
          ...connectionOptions(this.settings),
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          reconnectJitter: 100,
          timeout: 3_000,
          pingInterval: 10_000,
          maxPingOut: 3,
          // No stack trace captured per request: a publish is a request, and that capture is a
          // large part of its client-side cost.
          noAsyncTraces: true,
        });
        if (this.closed) {
          await nc.close();
          throw this.unavailable("the adapter is closed");
        }
        const session: Session = {
          nc,
          js: jetstream(nc, { timeout: 10_000 }),
          jsm: await jetstreamManager(nc, { timeout: 10_000, checkAPI: false }),
        };
        this.current = session;
        this.connected = true;
        this.lastError = undefined;
        this.connecting = undefined;
        this.onAttempt?.();
        this.watch(session);
        this.logger.info("NATS connected");
        return session;
      } catch (error) {
        if (this.closed) throw error;
        if (this.lastError === undefined)
          this.logger.warn({ err: (error as Error).message }, "cannot connect to NATS; retrying");
        this.lastError = error;
        this.onAttempt?.();
        await this.pause(delay);
        delay = Math.min(delay * 2, 2_000);
      }
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  private watch(session: Session): void {
    const { nc } = session;
    void (async () => {
      for await (const status of nc.status()) {
        switch (status.type) {
          case "disconnect":
            this.connected = false;
            if (!this.closed) this.logger.warn("NATS connection lost; reconnecting");
            break;
          case "reconnect":
            this.logger.info("NATS reconnected; restoring streams and consumers");
            void this.restoreAfterReconnect(session);
            break;
          case "error":
            this.logger.warn({ err: status.error.message }, "NATS error");
            break;
          default:
            break;
        }
      }
    })();
    void nc.closed().then((result) => {
      if (this.current?.nc !== nc) return;
      // Reconnection gave up (an authentication error, for one): the next use connects anew.
      this.current = undefined;
      this.connected = false;
      if (!this.closed) {
        const error = result instanceof Error ? result : new Error("connection closed");
        this.lastError = error;
        this.logger.warn({ err: error.message }, "NATS connection closed");
      }
    });
  }

  private async restoreAfterReconnect(session: Session): Promise<void> {
    const reconnection = ++this.reconnections;
    const current = () => !this.closed && this.current === session && this.reconnections === reconnection;
    for (let delay = 100; current(); delay = Math.min(delay * 2, 2_000)) {
      try {
        await this.restore(session);
        if (current()) this.connected = true;
        return;
      } catch (error) {
        // JetStream may still be recovering its streams right after a server restart.
        this.logger.debug({ err: (error as Error).message }, "restoring NATS streams failed; retrying");
        await this.pause(delay);
      }
    }
  }

  /** Sends what is buffered (acknowledgements) if NATS answers soon, then closes the connection. */
  async close(): Promise<void> {
    this.closed = true;
    for (const wake of [...this.wakers]) wake();
    const session = this.current;
    this.current = undefined;
    this.connected = false;
    if (!session) return;
    await within(session.nc.flush(), 1_000);
    await session.nc.close().catch(() => undefined);
  }
}
