import { EventEmitter } from "node:events";
import { Pool } from "undici";
import type { CloudEvent } from "../events/event.js";
import { toBinaryHttp, toStructuredHttp } from "../events/http.js";
import { LONGEST_WAIT_MS } from "./delivery.js";
import { trustedCertificates, type ClientTls } from "../tls.js";
import type { DeliveryIdentity } from "../auth/identity.js";

/** Largest response body read from a subscriber (a reply event); more is an error. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** The body of an answer that cannot hold a reply event, discarded unread. */
const NO_BODY = Buffer.alloc(0);

/** Destinations whose parsed URL is remembered per CACerts; past this the memory starts afresh. */
const MAX_REMEMBERED_DESTINATIONS = 10_000;

/** A destination URL parsed once: the connection pool of its origin and the request path. */
interface Destination {
  pool: Pool;
  path: string;
}

type ResponseHeaders = Record<string, string | string[] | undefined>;

/**
 * Whether a 2xx answer may carry a reply event (CloudEvents HTTP binding 3.1: binary mode has
 * ce-specversion, structured mode an application/cloudevents media type); otherwise its body is
 * discarded without being read.
 */
function mayHoldReply(headers: ResponseHeaders): boolean {
  if (headers["ce-specversion"] !== undefined) return true;
  const type = headers["content-type"];
  return typeof type === "string" && type.toLowerCase().includes("cloudevents");
}

function isTimeout(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT";
}

export type SendResult =
  | { ok: true; status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }
  | {
      ok: false;
      status?: number | undefined;
      headers?: Record<string, string | string[] | undefined>;
      body?: Buffer;
      error?: string;
    };

/**
 * Posts events in binary mode over pooled keep-alive connections, with `Prefer: reply` (Knative data
 * plane: the subscriber may answer with an event). One undici Pool per origin and CACerts, found
 * from the destination URL parsed once: an https destination is verified against the system CAs,
 * the configured CA bundle and its own CACerts (Knative duck/v1 Destination), never with
 * verification off; the configured client certificate is presented to destinations that ask for one.
 *
 * An attempt is bounded by undici's own timers (the answer's headers within the timeout, then no
 * pause in its body longer than the timeout). A caller's signal gets one listener, which forwards its
 * abort to the requests in flight: nothing per delivery is attached to a long-lived signal (no
 * AbortSignal.any, whose dependants pile up on the source signal in Node 20, and no listener per
 * request, which would trip the signal's listener limit with 100 deliveries in flight).
 */
export class Sender {
  /** Pools by CACerts ("" for none), then by origin. */
  private readonly pools = new Map<string, Map<string, Pool>>();
  /** Parsed destinations by CACerts ("" for none), then by URL. */
  private readonly destinations = new Map<string, Map<string, Destination>>();
  private readonly defaultTimeoutMs: number;
  /** Per caller signal, the emitter undici's requests listen to for its abort. */
  private readonly aborts = new WeakMap<AbortSignal, EventEmitter>();

  constructor(
    private readonly options: {
      connectionsPerOrigin: number;
      defaultTimeoutMs: number;
      tls?: ClientTls | undefined;
      /** Signs the token a delivery to a destination with an audience carries (Herald's issuer). */
      identity?: { token(identity: DeliveryIdentity): Promise<string> } | undefined;
    },
  ) {
    this.defaultTimeoutMs = options.defaultTimeoutMs;
  }

  private createPool(origin: string, caCerts: string | undefined): Pool {
    const tls = this.options.tls;
    const custom = caCerts !== undefined || tls?.ca !== undefined;
    return new Pool(origin, {
      connections: this.options.connectionsPerOrigin,
      keepAliveTimeout: 30_000,
      pipelining: 1,
      connect: {
        ...(custom ? { ca: trustedCertificates(tls?.ca, caCerts) } : {}),
        ...(tls?.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}),
      },
    });
  }

  /** The emitter that says `abort` when `signal` aborts; the signal's one listener. */
  private abortsOf(signal: AbortSignal): EventEmitter {
    let aborts = this.aborts.get(signal);
    if (!aborts) {
      const emitter = new EventEmitter();
      emitter.setMaxListeners(0);
      signal.addEventListener("abort", () => emitter.emit("abort"), { once: true });
      this.aborts.set(signal, (aborts = emitter));
    }
    return aborts;
  }

  /** The pool and path of `url` verified with `caCerts`, parsed and created on first use. */
  private destinationOf(url: string, caCerts: string | undefined): Destination {
    const trust = caCerts ?? "";
    let byUrl = this.destinations.get(trust);
    const known = byUrl?.get(url);
    if (known) return known;
    const parsed = new URL(url);
    let byOrigin = this.pools.get(trust);
    if (!byOrigin) this.pools.set(trust, (byOrigin = new Map<string, Pool>()));
    let pool = byOrigin.get(parsed.origin);
    if (!pool) byOrigin.set(parsed.origin, (pool = this.createPool(parsed.origin, trust || undefined)));
    if (!byUrl || byUrl.size >= MAX_REMEMBERED_DESTINATIONS)
      this.destinations.set(trust, (byUrl = new Map<string, Destination>()));
    const destination = { pool, path: `${parsed.pathname}${parsed.search}` };
    byUrl.set(url, destination);
    return destination;
  }

  async send(
    url: string,
    event: CloudEvent,
    options: {
      timeoutMs?: number | undefined;
      signal?: AbortSignal | undefined;
      /** W3C trace context of this delivery, sent as the `traceparent` header. */
      traceparent?: string | undefined;
      /** PEM CA certificates an https destination is verified with, besides the trusted ones. */
      caCerts?: string | undefined;
      /**
       * Who sends and for which audience: the request carries `Authorization: Bearer` with a JWT
       * Herald signs for it (Knative's OIDC sender identity).
       */
      identity?: DeliveryIdentity | undefined;
      /** `json`: structured content mode (CloudEvents HTTP binding 3.2); binary mode otherwise. */
      format?: "json" | "binary" | undefined;
    } = {},
  ): Promise<SendResult> {
    const { headers, body } = options.format === "json" ? toStructuredHttp(event) : toBinaryHttp(event);
    headers.prefer = "reply";
    if (options.traceparent) headers.traceparent = options.traceparent;
    if (options.identity && this.options.identity) {
      try {
        headers.authorization = `Bearer ${await this.options.identity.token(options.identity)}`;
      } catch (error) {
        return { ok: false, error: `signing the delivery's token failed: ${(error as Error).message}` };
      }
    }
    const timeoutMs = Math.min(options.timeoutMs ?? this.defaultTimeoutMs, LONGEST_WAIT_MS);
    try {
      if (options.signal?.aborted) throw options.signal.reason;
      const { pool, path } = this.destinationOf(url, options.caCerts);
      const response = await pool.request({
        method: "POST",
        path,
        headers,
        body,
        signal: options.signal ? this.abortsOf(options.signal) : null,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const ok = response.statusCode >= 200 && response.statusCode < 300;
      if (ok && !mayHoldReply(response.headers)) {
        await response.body.dump();
        return { ok: true, status: response.statusCode, headers: response.headers, body: NO_BODY };
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of response.body) {
        size += (chunk as Buffer).length;
        if (size > MAX_RESPONSE_BYTES) {
          response.body.destroy();
          return {
            ok: false,
            status: response.statusCode,
            error: `response body larger than ${MAX_RESPONSE_BYTES} bytes`,
          };
        }
        chunks.push(chunk as Buffer);
      }
      const result = { status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks) };
      return ok ? { ok: true, ...result } : { ok: false, ...result };
    } catch (error) {
      if (options.signal?.aborted) throw error;
      const message = isTimeout(error)
        ? `timed out after ${options.timeoutMs ?? this.defaultTimeoutMs} ms`
        : (error as Error).message;
      return { ok: false, error: message };
    }
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()].flatMap((byOrigin) => [...byOrigin.values()]);
    this.pools.clear();
    this.destinations.clear();
    await Promise.all(pools.map((pool) => pool.close()));
  }
}
