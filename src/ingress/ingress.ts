import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { HeraldError, errorBody, httpStatusOf } from "../errors.js";
import { withAttributes, type CloudEvent } from "../events/event.js";
import { parseHttpEvents } from "../events/http.js";
import { isTraceparent } from "../events/validate.js";
import type { Metrics } from "../metrics.js";
import type { Tracing } from "../tracing.js";
import type { IngressVerifier } from "../auth/ingress-verifier.js";
import { authorize, type IngressPolicies } from "./authorization.js";

/** Where ingress publishes: a running channel, looked up per request in O(1). */
export interface IngressTarget {
  readonly ready: boolean;
  readonly message?: string | undefined;
  publish(events: readonly CloudEvent[]): Promise<void>;
}

export type IngressLookup = (
  kind: "channels" | "brokers",
  namespace: string,
  name: string,
) => IngressTarget | undefined;

/** `/channels/{ns}/{name}` and `/brokers/{ns}/{name}`, with an optional trailing slash. */
const ADDRESS = /^\/(channels|brokers)\/([a-z0-9][-a-z0-9]*)\/([a-z0-9][-a-z0-9.]*)\/?$/;

export function isIngressPath(path: string): boolean {
  return path.startsWith("/channels/") || path.startsWith("/brokers/");
}

/**
 * The client went away before its request was read (reset, closed mid-body): nobody is left to
 * answer, and it is not a server error. Counted with status 499, as proxies name it.
 */
class ClientAborted extends Error {}

const CLIENT_ABORTED = 499;

/** Reads the body, refusing (413) as soon as it exceeds `limit` bytes. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (declared > limit) {
    return Promise.reject(
      new HeraldError(
        "PayloadTooLarge",
        `request body of ${declared} bytes exceeds the limit of ${limit} bytes`,
      ),
    );
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new HeraldError("PayloadTooLarge", `request body exceeds the limit of ${limit} bytes`));
        req.removeAllListeners("data");
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on("error", (error) => reject(new ClientAborted(error.message, { cause: error })));
    req.on("close", () => {
      if (!req.complete) reject(new ClientAborted("the client closed the connection mid-request"));
    });
  });
}

function send(res: ServerResponse, status: number, body?: unknown, headers?: Record<string, string>): void {
  if (body === undefined) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const json = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(json),
  });
  res.end(json);
}

/**
 * The HTTP data plane (CloudEvents HTTP protocol binding 1.0). Answers 202 only after the channel's
 * backend accepted every event of the request; any error is one JSON body `{code, message, details}`.
 */
export function createIngressHandler(
  lookup: IngressLookup,
  options: {
    maxBodyBytes: number;
    /** The most events a batched request may hold (the parser's default when unset). */
    maxBatchEvents?: number | undefined;
    logger: Logger;
    tracing: Tracing;
    metrics: Metrics;
    /** Origins the webhook validation handshake grants; empty grants any. */
    webhookAllowedOrigins?: readonly string[];
    /**
     * Knative's `authentication-oidc`: every POST needs a JWT for the address's audience (401), and
     * the EventPolicies of the address, else the default mode, must allow its subject (403).
     */
    authentication?: { verifier: IngressVerifier; policies: IngressPolicies } | undefined;
  },
) {
  const { ingressAccepted: accepted, ingressRejected: rejected, ingressLatency: latency } = options.metrics;
  /**
   * Publishes in an ingress span whose parent is the request's `traceparent` header (else the first
   * event's extension). With tracing on, each event's `traceparent` extension becomes the ingress
   * span, as Knative's broker ingress does, so deliveries join the trace; with tracing off, an
   * incoming header is carried over to events that have no extension.
   */
  async function publishTraced(
    target: IngressTarget,
    events: CloudEvent[],
    req: IncomingMessage,
    destination: string,
  ): Promise<void> {
    const header = req.headers.traceparent;
    // W3C Trace Context 3.2: a traceparent that does not parse is ignored, never passed on.
    const incoming = typeof header === "string" && isTraceparent(header) ? header : undefined;
    if (!options.tracing.enabled) {
      const carried = incoming
        ? events.map((event) =>
            event.attributes.traceparent === undefined
              ? withAttributes(event, { traceparent: incoming })
              : event,
          )
        : events;
      await target.publish(carried);
      return;
    }
    const first = events[0]!.attributes.traceparent;
    const parent = incoming ?? (typeof first === "string" ? first : undefined);
    const span = options.tracing.start("herald.ingress", "server", parent, {
      "messaging.destination.name": destination,
      "messaging.batch.message_count": events.length,
    });
    const traceparent = span.traceparent!;
    const traced = events.map((event) => withAttributes(event, { traceparent }));
    try {
      await target.publish(traced);
      span.end();
    } catch (error) {
      span.end((error as Error).message);
      throw error;
    }
  }

  return async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    const started = performance.now();
    try {
      const match = ADDRESS.exec(path);
      if (!match)
        throw new HeraldError("NotFound", `no ingress address at ${path}; use /channels/{namespace}/{name}`);
      const [, kind, namespace, name] = match as unknown as [string, "channels" | "brokers", string, string];
      const target = lookup(kind, namespace, name);
      if (!target) {
        throw new HeraldError(
          "ChannelNotFound",
          `${kind === "brokers" ? "broker" : "channel"} ${namespace}/${name} not found`,
        );
      }
      if (req.method === "OPTIONS") return abuseProtection(req, res, options.webhookAllowedOrigins ?? []);
      if (req.method !== "POST") {
        throw new HeraldError(
          "MethodNotAllowed",
          `${req.method ?? ""} is not allowed; send events with POST`,
        );
      }
      const policy = options.authentication?.policies.get(kind, namespace, name);
      if (options.authentication && !policy)
        throw new HeraldError(
          "BackendUnavailable",
          `${namespace}/${name} is not ready: its audience is not known yet`,
        );
      const subject = policy
        ? await options.authentication!.verifier.verify(req.headers.authorization, policy.audience)
        : undefined;
      const body = await readBody(req, options.maxBodyBytes);
      // Every header as sent (repeated ones as repeated), so a repeated ce- header is refused.
      const { events } = parseHttpEvents(req.headersDistinct, body, {
        maxBatchEvents: options.maxBatchEvents,
      });
      if (policy && subject !== undefined) authorize(policy, subject, events);
      if (!target.ready) {
        throw new HeraldError(
          "BackendUnavailable",
          `${namespace}/${name} is not ready${target.message ? `: ${target.message}` : ""}`,
        );
      }
      if (events.length > 0) await publishTraced(target, events, req, `${kind}/${namespace}/${name}`);
      accepted.inc({ namespace, name }, events.length);
      send(res, 202);
    } catch (error) {
      if (error instanceof ClientAborted) {
        rejected.inc({ status: CLIENT_ABORTED });
        options.logger.debug({ path, reason: error.message }, "the client left before its request was read");
        return;
      }
      const status = httpStatusOf(error);
      rejected.inc({ status });
      if (status >= 500) options.logger.warn({ err: error, path }, "ingress could not accept events");
      const headers: Record<string, string> = status === 405 ? { allow: "POST, OPTIONS" } : {};
      if (status === 503) headers["retry-after"] = "1";
      if (status === 401) headers["www-authenticate"] = 'Bearer realm="herald"';
      if (!res.headersSent) send(res, status, errorBody(error), headers);
      // A request whose body was not read (413, 404 before reading) must not leave the socket half-read.
      if (!req.complete) req.resume();
    } finally {
      latency.observe((performance.now() - started) / 1000);
    }
  };
}

/**
 * CloudEvents HTTP Webhook 1.0, section 4: the abuse-protection validation handshake. With
 * `allowed` origins, any other origin is refused with 403 (the target does not allow
 * delivery, section 4.2); without, every origin is granted, as ingress takes events from anyone who reaches it.
 */
function abuseProtection(req: IncomingMessage, res: ServerResponse, allowed: readonly string[]): void {
  const origin = req.headers["webhook-request-origin"];
  const headers: Record<string, string> = { allow: "POST, OPTIONS" };
  if (allowed.length > 0 && (typeof origin !== "string" || !allowed.includes(origin.trim().toLowerCase()))) {
    throw new HeraldError(
      "Forbidden",
      `webhook origin ${typeof origin === "string" && origin ? origin : "(none)"} is not allowed to send events here`,
    );
  }
  if (typeof origin === "string" && origin) {
    headers["webhook-allowed-origin"] = origin;
    const rate = req.headers["webhook-request-rate"];
    headers["webhook-allowed-rate"] = typeof rate === "string" && rate ? rate : "*";
  }
  res.writeHead(200, headers);
  res.end();
}
