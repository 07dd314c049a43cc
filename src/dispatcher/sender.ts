import { Agent, request } from "undici";
import type { CloudEvent } from "../events/event.js";
import { toBinaryHttp } from "../events/http.js";
import { LONGEST_WAIT_MS } from "./delivery.js";
import { trustedCertificates, type ClientTls } from "../tls.js";
import type { DeliveryIdentity } from "../auth/identity.js";

/** Largest response body read from a subscriber (a reply event); more is an error. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

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
 * plane: the subscriber may answer with an event). One undici Agent (a pool per origin) for the
 * destinations without CACerts, and one per distinct CACerts: an https destination is verified
 * against the system CAs, the configured CA bundle and its own CACerts (Knative duck/v1
 * Destination), never with verification off; the configured client certificate is presented to
 * destinations that ask for one.
 */
export class Sender {
  private readonly agent: Agent;
  private readonly agentsByCACerts = new Map<string, Agent>();
  private readonly defaultTimeoutMs: number;

  constructor(
    private readonly options: {
      connectionsPerOrigin: number;
      defaultTimeoutMs: number;
      tls?: ClientTls | undefined;
      /** Signs the token a delivery to a destination with an audience carries (Herald's issuer). */
      identity?: { token(identity: DeliveryIdentity): Promise<string> } | undefined;
    },
  ) {
    this.agent = this.createAgent(undefined);
    this.defaultTimeoutMs = options.defaultTimeoutMs;
  }

  private createAgent(caCerts: string | undefined): Agent {
    const tls = this.options.tls;
    const custom = caCerts !== undefined || tls?.ca !== undefined;
    return new Agent({
      connections: this.options.connectionsPerOrigin,
      keepAliveTimeout: 30_000,
      pipelining: 1,
      connect: {
        ...(custom ? { ca: trustedCertificates(tls?.ca, caCerts) } : {}),
        ...(tls?.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}),
      },
    });
  }

  /** The agent for destinations verified with `caCerts`, created on first use. */
  private agentFor(caCerts: string | undefined): Agent {
    if (caCerts === undefined || caCerts === "") return this.agent;
    let agent = this.agentsByCACerts.get(caCerts);
    if (!agent) {
      agent = this.createAgent(caCerts);
      this.agentsByCACerts.set(caCerts, agent);
    }
    return agent;
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
    } = {},
  ): Promise<SendResult> {
    const { headers, body } = toBinaryHttp(event);
    headers.prefer = "reply";
    if (options.traceparent) headers.traceparent = options.traceparent;
    if (options.identity && this.options.identity) {
      try {
        headers.authorization = `Bearer ${await this.options.identity.token(options.identity)}`;
      } catch (error) {
        return { ok: false, error: `signing the delivery's token failed: ${(error as Error).message}` };
      }
    }
    const timeout = AbortSignal.timeout(
      Math.min(options.timeoutMs ?? this.defaultTimeoutMs, LONGEST_WAIT_MS),
    );
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    try {
      const response = await request(url, {
        method: "POST",
        headers,
        body,
        signal,
        dispatcher: this.agentFor(options.caCerts),
      });
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
      return response.statusCode >= 200 && response.statusCode < 300
        ? { ok: true, ...result }
        : { ok: false, ...result };
    } catch (error) {
      if (options.signal?.aborted) throw error;
      const message = timeout.aborted
        ? `timed out after ${options.timeoutMs ?? this.defaultTimeoutMs} ms`
        : (error as Error).message;
      return { ok: false, error: message };
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.agent, ...this.agentsByCACerts.values()].map((agent) => agent.close()));
  }
}
