import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { errorBody, HeraldError, httpStatusOf } from "../errors.js";
import type { CloudEvent } from "../events/event.js";
import { parseHttpEvents, toBinaryHttp } from "../events/http.js";

/** What a sink answers to one event: a status, and the event it replies with, if any. */
export interface SinkAnswer {
  readonly status: number;
  readonly event?: CloudEvent | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** Why the event was not taken, sent as a JSON error body. */
  readonly message?: string | undefined;
}

/** Takes one event posted to a sink's address; never rejects for the event's own faults. */
export type SinkHandler = (event: CloudEvent) => Promise<SinkAnswer>;

/** Answers a GET below a sink's address (`rest`: the path after it), e.g. a JobSink's job status. */
export type SinkQuery = (rest: string) => SinkAnswer;

/** `/sinks/{plural}/{namespace}/{name}`, with an optional trailing slash. */
const ADDRESS = /^\/sinks\/([a-z]+)\/([a-z0-9][-a-z0-9]*)\/([a-z0-9][-a-z0-9.]*)\/?$/;
/** A path below a sink's address. */
const BELOW = /^\/sinks\/([a-z]+)\/([a-z0-9][-a-z0-9]*)\/([a-z0-9][-a-z0-9.]*)\/(.+)$/;

export function isSinkPath(path: string): boolean {
  return path.startsWith("/sinks/");
}

/**
 * The data plane of the sink kinds (EventTransform, JobSink, KafkaSink): each running sink has a
 * handler at `/sinks/{plural}/{namespace}/{name}` (its `status.address.url`), which receives one
 * CloudEvent per request in binary or structured mode, as Knative's sinks do.
 */
export class SinkEndpoints {
  private readonly handlers = new Map<string, SinkHandler>();
  private readonly queries = new Map<string, SinkQuery>();

  constructor(
    private readonly options: {
      readonly maxBodyBytes: number;
      readonly logger: Logger;
      /** With OIDC ingress authentication on: a sink's audience, announced in its address. */
      readonly audience?:
        ((plural: string, namespace: string, name: string) => string | undefined) | undefined;
      /**
       * With OIDC ingress authentication on: checks a request's token for the sink's audience (401)
       * and answers with the check of its event against the EventPolicies (403).
       */
      readonly authenticate?:
        | ((
            plural: string,
            namespace: string,
            name: string,
            authorization: string | undefined,
          ) => Promise<(events: readonly CloudEvent[]) => void>)
        | undefined;
    },
  ) {}

  /** A sink's `status.address`: its URL, and its audience with OIDC ingress authentication on. */
  address(
    plural: string,
    namespace: string,
    name: string,
    url: string,
  ): { name: string; url: string; audience?: string } {
    const audience = this.options.audience?.(plural, namespace, name);
    return { name: "http", url, ...(audience ? { audience } : {}) };
  }

  set(plural: string, namespace: string, name: string, handler: SinkHandler): void {
    this.handlers.set(`${plural}/${namespace}/${name}`, handler);
  }

  /** Answers GETs below the sink's address until `delete`. */
  setQuery(plural: string, namespace: string, name: string, query: SinkQuery): void {
    this.queries.set(`${plural}/${namespace}/${name}`, query);
  }

  delete(plural: string, namespace: string, name: string): void {
    this.handlers.delete(`${plural}/${namespace}/${name}`);
    this.queries.delete(`${plural}/${namespace}/${name}`);
  }

  /** Handlers of a kind, by `namespace/name`, so a reconciler can drop those of deleted resources. */
  names(plural: string): string[] {
    return [...this.handlers.keys()]
      .filter((key) => key.startsWith(`${plural}/`))
      .map((key) => key.slice(plural.length + 1));
  }

  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    try {
      if (req.method === "GET") return await this.query(req, res, path);
      const match = ADDRESS.exec(path);
      const handler = match && this.handlers.get(`${match[1]}/${match[2]}/${match[3]}`);
      if (!handler) throw new HeraldError("NotFound", `no sink answers at ${path}`);
      if (req.method !== "POST") throw new HeraldError("MethodNotAllowed", "a sink takes events by POST");
      const authorize = await this.options.authenticate?.(
        match[1]!,
        match[2]!,
        match[3]!,
        req.headers.authorization,
      );
      const body = await this.readBody(req);
      const { events, mode } = parseHttpEvents(req.headers, body, { maxBatchEvents: 1 });
      if (mode === "batch" || events.length !== 1)
        throw new HeraldError("BadRequest", "a sink takes one event per request (binary or structured mode)");
      authorize?.(events);
      answer(res, await handler(events[0]!));
    } catch (error) {
      if (!(error instanceof HeraldError))
        this.options.logger.error({ err: error, path }, "a sink failed to take an event");
      if (res.headersSent) return;
      const status = httpStatusOf(error);
      res.writeHead(status, {
        "content-type": "application/json",
        ...(status === 401 ? { "www-authenticate": 'Bearer realm="herald"' } : {}),
      });
      res.end(JSON.stringify(errorBody(error)));
      // A request refused before its body was read must not leave the socket half-read.
      if (!req.complete) req.resume();
    }
  }

  /** A GET below a sink's address, with the same authentication as its events. */
  private async query(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const match = BELOW.exec(path);
    const query = match && this.queries.get(`${match[1]}/${match[2]}/${match[3]}`);
    if (!query) throw new HeraldError("NotFound", `nothing answers GET ${path}`);
    await this.options.authenticate?.(match[1]!, match[2]!, match[3]!, req.headers.authorization);
    answer(res, query(match[4]!));
  }

  private async readBody(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > this.options.maxBodyBytes)
        throw new HeraldError("PayloadTooLarge", `the request exceeds ${this.options.maxBodyBytes} bytes`);
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }
}

/** Writes a sink's answer: the reply event in binary mode, else the status (and the message). */
function answer(res: ServerResponse, { status, event, headers, message }: SinkAnswer): void {
  if (event) {
    const binary = toBinaryHttp(event);
    res.writeHead(status, { ...headers, ...binary.headers });
    res.end(binary.body);
    return;
  }
  if (message) {
    res.writeHead(status, { ...headers, "content-type": "application/json" });
    res.end(JSON.stringify({ code: status >= 500 ? "SinkFailed" : "EventRefused", message }));
    return;
  }
  res.writeHead(status, headers);
  res.end();
}
