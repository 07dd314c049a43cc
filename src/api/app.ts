import express from "express";
import { register } from "prom-client";
import type { ControlPlane } from "../control/control-plane.js";
import { resourceRouter } from "./resources.js";

/** The control-plane HTTP app: resource API, health and Prometheus metrics. */
export function createApiApp(
  controlPlane: ControlPlane,
  isReady: () => boolean,
  maxBodyBytes: number,
): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/readyz", (_req, res) => {
    const ready = isReady();
    res.status(ready ? 200 : 503).json({ status: ready ? "ready" : "starting" });
  });
  app.get("/metrics", async (_req, res) => {
    res.set("content-type", register.contentType).send(await register.metrics());
  });
  // Sources that receive HTTP (GitHubSource webhooks): the raw body, as signatures are over the bytes.
  app.all(
    "/sources/:namespace/:name",
    express.raw({ type: () => true, limit: maxBodyBytes }),
    async (req, res, next) => {
      try {
        const answer = await controlPlane.sources.handleRequest(req.params.namespace!, req.params.name!, {
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
  app.use(resourceRouter(controlPlane));
  app.use((req, res) => {
    res.status(404).json({ code: "NotFound", message: `no route for ${req.method} ${req.path}` });
  });
  return app;
}
