import express, { type Request, type Response } from "express";
import { parse as parseYaml } from "yaml";
import { authorize, principalOf } from "../auth/middleware.js";
import { MAX_DEAD_LETTERS, type DeadLetterService } from "../control/dead-letters.js";
import { HeraldError } from "../errors.js";

const CHANNEL = "/apis/messaging.knative.dev/v1/namespaces/:namespace/channels/:name";

/**
 * Dead letters kept in a Herald channel (see control/dead-letters.ts), subresources of the channel
 * at that address (a Channel, or a backing channel such as a LogChannel):
 *   GET  {channel}/deadletters[?limit=N]   role read: the dead letters, each with where it failed and why
 *   GET  {channel}/deadletters/{id}        role read: one, whole (attributes and data)
 *   POST {channel}/redrive                 role write: {filter?: CESQL, rate?: events/s, limit?: N}
 */
export function deadLetterRouter(deadLetters: DeadLetterService): express.Router {
  const router = express.Router();
  const parsers = [
    express.json({ limit: "16kb", type: "application/json" }),
    express.text({ limit: "16kb", type: "application/yaml" }),
  ];
  const target = (req: Request) => req.params as Record<string, string>;

  router.get(`${CHANNEL}/deadletters`, async (req: Request, res: Response) => {
    authorize(principalOf(res), "read", "reading dead letters");
    const { namespace, name } = target(req);
    const unknown = Object.keys(req.query).filter((key) => key !== "limit");
    if (unknown.length > 0) throw badField(unknown[0]!, "unknown query parameter; the list takes only limit");
    const limit = limitOf(req.query.limit, "limit");
    res.json({ items: await deadLetters.list(namespace!, name!, limit) });
  });
  router.get(`${CHANNEL}/deadletters/:id`, async (req: Request, res: Response) => {
    authorize(principalOf(res), "read", "reading dead letters");
    const { namespace, name, id } = target(req);
    const { summary, event } = await deadLetters.show(namespace!, name!, id!);
    const data = event.data;
    const text = data && isUtf8Text(data) ? data.toString("utf8") : undefined;
    res.json({
      ...summary,
      attributes: event.attributes,
      ...(data === undefined
        ? {}
        : text !== undefined
          ? { data: text }
          : { dataBase64: data.toString("base64") }),
    });
  });
  router.post(`${CHANNEL}/redrive`, ...parsers, async (req: Request, res: Response) => {
    authorize(principalOf(res), "write", "redriving dead letters");
    const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== "application/json" && type !== "application/yaml")
      throw new HeraldError(
        "UnsupportedMediaType",
        `Content-Type ${type || "(none)"} is not accepted: send application/json or application/yaml`,
      );
    const body = bodyOf(req.body);
    const unknown = Object.keys(body).filter((key) => !["filter", "rate", "limit"].includes(key));
    if (unknown.length > 0)
      throw badField(unknown[0]!, "unknown field; a redrive takes filter, rate and limit");
    if (body.filter !== undefined && (typeof body.filter !== "string" || body.filter.trim() === ""))
      throw badField("filter", "must be a CESQL expression");
    if (
      body.rate !== undefined &&
      !(typeof body.rate === "number" && body.rate > 0 && body.rate <= 1_000_000)
    )
      throw badField("rate", "must be a number of events per second above 0");
    const { namespace, name } = target(req);
    const report = await deadLetters.redrive(namespace!, name!, {
      filter: body.filter,
      rate: body.rate,
      limit: limitOf(body.limit, "limit"),
    });
    res.json(report);
  });
  return router;
}

function badField(field: string, message: string): HeraldError {
  return new HeraldError("BadRequest", `${field}: ${message}`, { field });
}

function limitOf(value: unknown, field: string): number {
  if (value === undefined) return MAX_DEAD_LETTERS;
  const limit = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > MAX_DEAD_LETTERS)
    throw badField(field, `must be an integer from 1 to ${MAX_DEAD_LETTERS}`);
  return limit;
}

function bodyOf(body: unknown): Record<string, unknown> {
  let value = body;
  if (typeof body === "string") {
    try {
      value = parseYaml(body);
    } catch (error) {
      throw new HeraldError("BadRequest", `the body is not valid YAML: ${(error as Error).message}`);
    }
  }
  if (value === undefined || value === null || value === "") return {};
  if (typeof value !== "object" || Array.isArray(value))
    throw new HeraldError("BadRequest", 'the body must be an object such as {"filter": "type = \'x\'"}');
  return value as Record<string, unknown>;
}

function isUtf8Text(data: Buffer): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(data);
    return true;
  } catch {
    return false;
  }
}
