import express from "express";
import type { Registry } from "prom-client";
import type { ResourceService } from "../control/resource-service.js";
import type { SourceRequest, SourceResponse } from "../../sources/source.js";
import { kubernetesRouter, kubernetesStatusErrors } from "./kube.js";
import { resourceRouter } from "./resources.js";

export interface ApiDeps {
  readonly resources: ResourceService;
  readonly registry: Registry;
  readonly maxBodyBytes: number;
  /** Started, and every backend in use answers; with the backends that do not, by kind. */
  readiness(): Promise<{ ready: boolean; started: boolean; backends: { kind: string; ready: boolean }[] }>;
  /** An HTTP request to a source that receives HTTP (GitHubSource webhooks). */
  sourceRequest(namespace: string, name: string, request: SourceRequest): Promise<SourceResponse>;
}

/** The control-plane HTTP app: resource API, health, readiness and Prometheus metrics. */
export function createApiApp(deps: ApiDeps): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.use(kubernetesStatusErrors);
  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/readyz", async (_req, res) => {
    const { ready, started, backends } = await deps.readiness();
    res
      .status(ready ? 200 : 503)
      .json({ status: ready ? "ready" : started ? "degraded" : "starting", backends });
  });
  app.get("/metrics", async (_req, res) => {
    res.set("content-type", deps.registry.contentType).send(await deps.registry.metrics());
  });
  // Sources that receive HTTP (GitHubSource webhooks): the raw body, as signatures are over the bytes.
  app.all(
    "/sources/:namespace/:name",
    express.raw({ type: () => true, limit: deps.maxBodyBytes }),
    async (req, res, next) => {
      try {
        const answer = await deps.sourceRequest(req.params.namespace, req.params.name, {
          method: req.method,
          headers: req.headers,
          body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
        });
        res
          .status(answer.status)
          .type("text/plain")
          .send(answer.body ?? "");
      } catch (error) {
        next(error);
      }
    },
  );
  // Without authentication every caller may read and write everything.
  app.use(kubernetesRouter(deps.resources, { authorize: () => {}, shown: (resource) => resource }));
  app.use(resourceRouter(deps.resources));
  app.use((req, res) => {
    res.status(404).json({ code: "NotFound", message: `no route for ${req.method} ${req.path}` });
  });
  return app;
}
