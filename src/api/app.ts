import express, { type NextFunction, type Request, type Response } from "express";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { Authenticator } from "../auth/authenticator.js";
import { JWKS_PATH, OPENID_CONFIGURATION_PATH } from "../auth/identity.js";
import {
  authenticate,
  authorize,
  browserGuard,
  principalOf,
  requireRole,
  type BrowserGuardOptions,
} from "../auth/middleware.js";
import type { DeadLetterService } from "../control/dead-letters.js";
import type { ReplayService } from "../control/replay.js";
import type { ResourceService } from "../control/resource-service.js";
import { errorBody, HeraldError, httpStatusOf, type ErrorCode } from "../errors.js";
import type { SourceRequest, SourceResponse } from "../../sources/source.js";
import { deadLetterRouter } from "./dead-letters.js";
import { kubernetesRouter, kubernetesStatusErrors } from "./kube.js";
import { replayRouter } from "./replay.js";
import { resourceRouter, shown } from "./resources.js";

export interface ApiDeps {
  readonly resources: ResourceService;
  readonly registry: Registry;
  readonly maxBodyBytes: number;
  readonly logger: Logger;
  /** Who calls the resource API; without a token file or OIDC issuer everyone is the anonymous admin. */
  readonly authenticator: Authenticator;
  /** The Host and Origin allow-lists of the resource API. */
  readonly browser: BrowserGuardOptions;
  /** Started, and every backend in use answers; with the backends that do not, by kind. */
  readiness(): Promise<{ ready: boolean; started: boolean; backends: { kind: string; ready: boolean }[] }>;
  /** An HTTP request to a source that receives HTTP (GitHubSource webhooks). */
  sourceRequest(namespace: string, name: string, request: SourceRequest): Promise<SourceResponse>;
  /** Replays of Subscriptions and Triggers (`.../replay`), when Herald runs them. */
  readonly replays?: ReplayService | undefined;
  /** Dead letters kept in channels (`.../deadletters`, `.../redrive`), when Herald runs them. */
  readonly deadLetters?: DeadLetterService | undefined;
  /** Herald's OpenID configuration and keys, for receivers of its deliveries to verify their tokens. */
  readonly wellKnown?:
    { readonly openidConfiguration: () => unknown; readonly jwks: () => unknown } | undefined;
}

/**
 * `/.well-known/openid-configuration` and its JWKS: public and read-only (GET), open as /healthz
 * is, since a receiver verifying Herald's tokens has no credentials for Herald.
 */
function wellKnown(app: express.Express, deps: ApiDeps): void {
  const documents = deps.wellKnown;
  if (!documents) return;
  app.get(OPENID_CONFIGURATION_PATH, (_req, res) => {
    res.set("cache-control", "public, max-age=300").json(documents.openidConfiguration());
  });
  app.get(JWKS_PATH, (_req, res) => {
    res.set("cache-control", "public, max-age=300").json(documents.jwks());
  });
}

function health(app: express.Express, deps: ApiDeps): void {
  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/readyz", async (_req, res) => {
    const { ready, started, backends } = await deps.readiness();
    res
      .status(ready ? 200 : 503)
      .json({ status: ready ? "ready" : started ? "degraded" : "starting", backends });
  });
}

const codeByStatus: Record<number, ErrorCode> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  409: "Conflict",
  413: "PayloadTooLarge",
  415: "UnsupportedMediaType",
  500: "Internal",
};

/** The error code of an HTTP status that does not come from a HeraldError (a parser's, a source's). */
function codeOf(status: number): ErrorCode {
  return codeByStatus[status] ?? (status >= 500 ? "BackendUnavailable" : "BadRequest");
}

/**
 * Renders every error as the JSON body `{code, message, details}`, never an HTML page or a stack
 * trace: Herald's own errors by their code, the body parsers' by their status, anything else as
 * a logged 500.
 */
function jsonErrors(logger: Logger) {
  return (error: unknown, req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent) return next(error);
    const failure = error as {
      type?: string;
      status?: unknown;
      expose?: unknown;
      message?: string;
      limit?: unknown;
    };
    if (failure.type === "entity.parse.failed") {
      res.status(400).json({
        code: "InvalidResource",
        message: `request body is not valid JSON: ${failure.message ?? ""}`,
      });
      return;
    }
    if (failure.type === "entity.too.large") {
      const limit = typeof failure.limit === "number" ? ` (limit ${failure.limit} bytes)` : "";
      res.status(413).json({ code: "PayloadTooLarge", message: `request body is too large${limit}` });
      return;
    }
    if (error instanceof HeraldError) {
      res.status(httpStatusOf(error)).json(errorBody(error));
      return;
    }
    const status = typeof failure.status === "number" ? failure.status : 500;
    if (status >= 400 && status < 500 && failure.expose !== false) {
      res.status(status).json({ code: codeOf(status), message: failure.message ?? "bad request" });
      return;
    }
    logger.error({ err: error, method: req.method, path: req.path }, "request failed");
    res.status(500).json(errorBody(error));
  };
}

function notFound(req: Request, res: Response): void {
  res.status(404).json({ code: "NotFound", message: `no route for ${req.method} ${req.path}` });
}

/**
 * What the main port serves beside ingress: source webhooks (GitHubSource, signed by the sender),
 * /healthz and /readyz. With a separate API port this is all the main port serves.
 */
export function createPublicApp(deps: ApiDeps): express.Express {
  const app = express();
  app.disable("x-powered-by");
  health(app, deps);
  wellKnown(app, deps);
  // Sources that receive HTTP (GitHubSource webhooks): the raw body, as signatures are over the bytes.
  app.all(
    "/sources/:namespace/:name",
    express.raw({ type: () => true, limit: deps.maxBodyBytes }),
    async (req, res) => {
      const answer = await deps.sourceRequest(req.params.namespace, req.params.name, {
        method: req.method,
        headers: req.headers,
        body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
      });
      if (answer.status >= 400) {
        res.status(answer.status).json({ code: codeOf(answer.status), message: answer.body ?? "" });
        return;
      }
      res
        .status(answer.status)
        .type("text/plain")
        .send(answer.body ?? "");
    },
  );
  app.use(notFound);
  app.use(jsonErrors(deps.logger));
  return app;
}

/**
 * The control plane: the resource API and Prometheus metrics, behind the browser guard (Host and
 * Origin allow-lists) and authentication, plus the open /healthz and /readyz.
 */
export function createApiApp(deps: ApiDeps): express.Express {
  const app = express();
  app.disable("x-powered-by");
  health(app, deps);
  wellKnown(app, deps);
  app.use(kubernetesStatusErrors);
  app.use(browserGuard(deps.browser));
  app.use(authenticate(deps.authenticator));
  app.get("/metrics", requireRole("read", "reading metrics"), async (_req, res) => {
    res.set("content-type", deps.registry.contentType).send(await deps.registry.metrics());
  });
  if (deps.replays) app.use(replayRouter(deps.replays));
  if (deps.deadLetters) app.use(deadLetterRouter(deps.deadLetters));
  app.use(
    kubernetesRouter(deps.resources, {
      authorize: (res, role, what) => authorize(principalOf(res), role, what),
      shown: (resource, res) => shown(resource, principalOf(res)),
    }),
  );
  app.use(resourceRouter(deps.resources));
  app.use(notFound);
  app.use(jsonErrors(deps.logger));
  return app;
}
