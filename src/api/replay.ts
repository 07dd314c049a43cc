import express, { type Request, type Response } from "express";
import { parse as parseYaml } from "yaml";
import { authorize, principalOf } from "../auth/middleware.js";
import type { ReplayService } from "../control/replay.js";
import { HeraldError } from "../errors.js";

/**
 * Replay, a subresource of Subscriptions and Triggers (as Kubernetes has `/scale`):
 *   POST /apis/messaging.knative.dev/v1/namespaces/{ns}/subscriptions/{name}/replay   {"from": ...}
 *   POST /apis/eventing.knative.dev/v1/namespaces/{ns}/triggers/{name}/replay         {"from": ...}
 * `from` is `beginning`, an RFC 3339 time or an offset. It needs the `write` role; the body is
 * `application/json` or `application/yaml` (415 otherwise, like every write).
 */
export function replayRouter(replays: ReplayService): express.Router {
  const router = express.Router();
  const BODY_LIMIT = "16kb";
  const parsers = [
    express.json({ limit: BODY_LIMIT, type: "application/json" }),
    express.text({ limit: BODY_LIMIT, type: "application/yaml" }),
  ];
  const route = (kind: "Subscription" | "Trigger") => async (req: Request, res: Response) => {
    authorize(principalOf(res), "write", `replaying ${kind}s`);
    const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== "application/json" && type !== "application/yaml")
      throw new HeraldError(
        "UnsupportedMediaType",
        `Content-Type ${type || "(none)"} is not accepted: send application/json or application/yaml`,
      );
    const { namespace, name } = req.params as Record<string, string>;
    const answer = await replays.replay(kind, namespace!, name!, fromOf(req.body));
    res.status(200).json(answer);
  };
  router.post(
    "/apis/messaging.knative.dev/v1/namespaces/:namespace/subscriptions/:name/replay",
    ...parsers,
    route("Subscription"),
  );
  router.post(
    "/apis/eventing.knative.dev/v1/namespaces/:namespace/triggers/:name/replay",
    ...parsers,
    route("Trigger"),
  );
  return router;
}

/** The body's `from`; any other field is refused rather than ignored. */
function fromOf(body: unknown): unknown {
  let value = body;
  if (typeof body === "string") {
    try {
      value = parseYaml(body);
    } catch (error) {
      throw new HeraldError("BadRequest", `the body is not valid YAML: ${(error as Error).message}`);
    }
  }
  if (!value || typeof value !== "object" || Array.isArray(value))
    throw new HeraldError("BadRequest", 'from: the body must be an object such as {"from": "beginning"}', {
      field: "from",
    });
  const unknown = Object.keys(value).filter((key) => key !== "from");
  if (unknown.length > 0)
    throw new HeraldError("BadRequest", `${unknown.join(", ")}: unknown field; a replay takes only from`, {
      field: unknown[0],
    });
  return (value as { from?: unknown }).from;
}
