import express, { type NextFunction, type Request, type Response } from "express";
import { parse as parseYaml } from "yaml";
import { HeraldError, errorBody, httpStatusOf } from "../errors.js";
import type { ResourceService } from "../control/resource-service.js";
import type { Resource } from "../resources/common.js";
import { apiVersionOf, type KindDefinition } from "../resources/kinds.js";
import { invalidResource, readManifests, validateManifest, type Manifest } from "../resources/validation.js";
import { servedBody } from "../resources/served.js";

/**
 * The resource API, shaped like Kubernetes':
 *   GET    /apis/{group}/{version}/{plural}                              list across namespaces
 *   GET    /apis/{group}/{version}/namespaces/{ns}/{plural}              list
 *   POST   /apis/{group}/{version}/namespaces/{ns}/{plural}              create (409 when it exists)
 *   GET    /apis/{group}/{version}/namespaces/{ns}/{plural}/{name}       read
 *   PUT    /apis/{group}/{version}/namespaces/{ns}/{plural}/{name}       create or replace (apply)
 *   DELETE /apis/{group}/{version}/namespaces/{ns}/{plural}/{name}       delete
 *   POST   /apply                                                        apply a multi-document YAML/JSON body, all or nothing;
 *                                                                         documents of kinds Herald does not run are left aside (`leftAside`)
 *   GET    /apis                                                         the kinds served
 * Bodies may be JSON or YAML (`application/yaml`).
 */
function param(req: Request, name: string): string {
  return String((req.params as Record<string, string>)[name] ?? "");
}

export function resourceRouter(resources: ResourceService): express.Router {
  const router = express.Router();
  const { store, kinds } = resources;
  // Every answer shows resources in Kubernetes' shape (a Secret's data as `data`): see servedBody.
  router.use((_req, res, next) => {
    const json = res.json.bind(res);
    res.json = (body: unknown) => json(servedBody(kinds, body));
    next();
  });
  router.use(
    express.text({
      type: ["application/yaml", "application/x-yaml", "text/yaml", "text/plain"],
      limit: "8mb",
    }),
  );
  router.use(express.json({ limit: "8mb", type: ["application/json", "application/*+json"] }));

  const definitionFor = (req: Request): KindDefinition => {
    const { group: pathGroup, version, plural } = req.params as Record<string, string>;
    const group = pathGroup ?? "";
    const definition = kinds.forPath(group, version!, plural!);
    if (!definition)
      throw new HeraldError("NotFound", `the server does not serve ${plural} in ${group}/${version}`);
    return definition;
  };
  const bodyObject = (req: Request): unknown => {
    if (typeof req.body === "string") {
      try {
        return parseYaml(req.body);
      } catch (error) {
        throw invalidResource([{ path: "", message: `not valid YAML: ${(error as Error).message}` }]);
      }
    }
    return req.body;
  };
  const list = (definition: KindDefinition, items: Resource[]) => ({
    apiVersion: apiVersionOf(definition),
    kind: `${definition.kind}List`,
    items,
  });
  /** Parses a single-resource body and checks it matches the URL it was sent to. */
  const manifestAt = (req: Request, definition: KindDefinition, name?: string): Manifest => {
    const { namespace } = req.params as Record<string, string>;
    const body = bodyObject(req) as Record<string, unknown> | undefined;
    const input =
      body && typeof body === "object"
        ? {
            apiVersion: apiVersionOf(definition),
            kind: definition.kind,
            ...body,
            metadata: {
              ...(body.metadata as object),
              ...(name && !(body.metadata as { name?: string })?.name ? { name } : {}),
            },
          }
        : body;
    const { manifest, problems } = validateManifest(kinds, input);
    if (!manifest) throw invalidResource(problems);
    const mismatch = [];
    if (manifest.definition !== definition)
      mismatch.push({ path: "kind", message: `must be ${definition.kind} at this URL` });
    if (
      manifest.metadata.namespace !== namespace &&
      (body?.metadata as { namespace?: string })?.namespace !== undefined
    )
      mismatch.push({ path: "metadata.namespace", message: `must be ${namespace} at this URL` });
    if (name && manifest.metadata.name !== name)
      mismatch.push({ path: "metadata.name", message: `must be ${name} at this URL` });
    if (mismatch.length) throw invalidResource(mismatch);
    manifest.metadata.namespace = namespace!;
    return manifest;
  };

  router.get("/apis", (_req, res) => {
    res.json({
      kinds: kinds.all().map((d) => ({
        apiVersion: apiVersionOf(d),
        kind: d.kind,
        plural: d.plural,
        shortNames: d.shortNames,
      })),
    });
  });
  router.post("/apply", async (req, res) => {
    const text = typeof req.body === "string" ? req.body : JSON.stringify(req.body);
    const { manifests, leftAside } = readManifests(kinds, text, "request body");
    const applied = await resources.apply(manifests);
    res.status(200).json({ items: applied, leftAside });
  });
  // The core group (ConfigMap) is served under /api/{version}, as in Kubernetes.
  const paths = (rest: string) => [`/apis/:group/:version${rest}`, `/api/:version${rest}`];
  router.get(paths("/:plural"), (req, res) => {
    const definition = definitionFor(req);
    res.json(list(definition, store.list(definition)));
  });
  router.get(paths("/namespaces/:namespace/:plural"), (req, res) => {
    const definition = definitionFor(req);
    res.json(list(definition, store.list(definition, param(req, "namespace"))));
  });
  router.post(paths("/namespaces/:namespace/:plural"), async (req, res) => {
    const definition = definitionFor(req);
    const manifest = manifestAt(req, definition);
    if (store.get(definition, manifest.metadata.namespace, manifest.metadata.name)) {
      throw new HeraldError(
        "Conflict",
        `${definition.kind} ${manifest.metadata.namespace}/${manifest.metadata.name} already exists`,
      );
    }
    const [created] = await resources.apply([manifest]);
    res.status(201).json(created);
  });
  router.get(paths("/namespaces/:namespace/:plural/:name"), (req, res) => {
    const definition = definitionFor(req);
    const resource = store.get(definition, param(req, "namespace"), param(req, "name"));
    if (!resource)
      throw new HeraldError(
        "NotFound",
        `${definition.kind} ${param(req, "namespace")}/${param(req, "name")} not found`,
      );
    res.json(resource);
  });
  router.put(paths("/namespaces/:namespace/:plural/:name"), async (req, res) => {
    const definition = definitionFor(req);
    const existed = store.get(definition, param(req, "namespace"), param(req, "name")) !== undefined;
    const [applied] = await resources.apply([manifestAt(req, definition, param(req, "name"))]);
    res.status(existed ? 200 : 201).json(applied);
  });
  router.delete(paths("/namespaces/:namespace/:plural/:name"), async (req, res) => {
    const definition = definitionFor(req);
    const deleted = await resources.delete(definition, param(req, "namespace"), param(req, "name"));
    res.json(deleted);
  });
  // A cluster-scoped kind (Namespace) is read and deleted without a namespace, as in Kubernetes.
  const clusterScoped = (definition: KindDefinition): KindDefinition => {
    if (!definition.clusterScoped)
      throw new HeraldError(
        "NotFound",
        `${definition.plural} are namespaced: use /namespaces/{namespace}/${definition.plural}`,
      );
    return definition;
  };
  router.get(paths("/:plural/:name"), (req, res) => {
    const definition = clusterScoped(definitionFor(req));
    const resource = store.get(definition, "", param(req, "name"));
    if (!resource) throw new HeraldError("NotFound", `${definition.kind} ${param(req, "name")} not found`);
    res.json(resource);
  });
  router.delete(paths("/:plural/:name"), async (req, res) => {
    const definition = clusterScoped(definitionFor(req));
    res.json(await resources.delete(definition, "", param(req, "name")));
  });
  // Express 5 forwards rejected promises here: one place renders every error.
  router.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(error);
    const parseFailure = error as { type?: string; status?: number; message?: string };
    if (parseFailure.type === "entity.parse.failed") {
      res.status(400).json({
        code: "InvalidResource",
        message: `request body is not valid JSON: ${parseFailure.message}`,
      });
      return;
    }
    if (parseFailure.type === "entity.too.large") {
      res.status(413).json({ code: "PayloadTooLarge", message: "request body is too large" });
      return;
    }
    res.status(httpStatusOf(error)).json(errorBody(error));
  });
  return router;
}
