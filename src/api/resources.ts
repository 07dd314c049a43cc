import express, { type NextFunction, type Request, type Response } from "express";
import { parse as parseYaml } from "yaml";
import { authorize, principalOf } from "../auth/middleware.js";
import { roleAllows, type Principal } from "../auth/roles.js";
import { HeraldError } from "../errors.js";
import type { ResourceService } from "../control/resource-service.js";
import type { Resource } from "../resources/common.js";
import { apiVersionOf, coreKinds, type KindDefinition } from "../resources/kinds.js";
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
 * Writes take `application/json` or `application/yaml` bodies only (415 otherwise): a web page can
 * send `text/plain` cross-site without a CORS preflight, never these. Reading needs the `read` role,
 * writing `write`, and privileged kinds (ProcessSource) `admin`; Secret data is shown to `admin` only.
 */
function param(req: Request, name: string): string {
  return String((req.params as Record<string, string>)[name] ?? "");
}

/** The rule of metadata.namespace: an RFC 1123 label. */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The namespace of a URL path, checked as metadata.namespace is (422 otherwise). */
function namespaceOf(req: Request): string {
  const namespace = param(req, "namespace");
  if (!NAMESPACE.test(namespace) || namespace.length > 63)
    throw invalidResource([
      {
        path: "namespace",
        message: `${JSON.stringify(namespace)} must be a lowercase RFC 1123 label (a-z, 0-9, '-', at most 63 characters)`,
      },
    ]);
  return namespace;
}

const WRITE_TYPES = ["application/json", "application/yaml"];

/** What Secret values become for callers without the admin role. */
export const REDACTED = "[redacted]";

/** A resource as `principal` may see it: a Secret's values redacted below the admin role. */
export function shown(resource: Resource, principal: Principal): Resource {
  if (roleAllows(principal.role, "admin")) return resource;
  if (resource.kind !== coreKinds.secret.kind || resource.apiVersion !== apiVersionOf(coreKinds.secret))
    return resource;
  const redact = (values: unknown) =>
    values && typeof values === "object"
      ? Object.fromEntries(Object.keys(values).map((key) => [key, REDACTED]))
      : values;
  const out: Resource & { data?: unknown } = {
    ...resource,
    spec: redact(resource.spec) as Record<string, unknown>,
  };
  if ("data" in resource) out.data = redact((resource as { data?: unknown }).data);
  return out;
}

/** The write needs `write`, or `admin` for a privileged kind (it runs code on Herald's host). */
function authorizeWrite(res: Response, definitions: readonly KindDefinition[], verb: string): void {
  const privileged = definitions.find((definition) => definition.privileged);
  authorize(
    principalOf(res),
    privileged ? "admin" : "write",
    privileged ? `${verb} a ${privileged.kind} (it runs commands on Herald's host)` : `${verb} resources`,
  );
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
  router.use((req: Request, _res: Response, next: NextFunction) => {
    if (req.method !== "POST" && req.method !== "PUT" && req.method !== "PATCH") return next();
    const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    if (!WRITE_TYPES.includes(type))
      throw new HeraldError(
        "UnsupportedMediaType",
        `Content-Type ${type || "(none)"} is not accepted: send application/json or application/yaml`,
      );
    next();
  });
  router.use(express.text({ type: "application/yaml", limit: "8mb" }));
  router.use(express.json({ limit: "8mb", type: "application/json" }));

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
    const namespace = namespaceOf(req);
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
    authorize(principalOf(res), "read", "listing kinds");
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
    authorizeWrite(
      res,
      manifests.map((manifest) => manifest.definition),
      "applying",
    );
    const applied = await resources.apply(manifests);
    res.status(200).json({ items: applied.map((resource) => shown(resource, principalOf(res))), leftAside });
  });
  // The core group (ConfigMap) is served under /api/{version}, as in Kubernetes.
  const paths = (rest: string) => [`/apis/:group/:version${rest}`, `/api/:version${rest}`];
  const read = (req: Request, res: Response): KindDefinition => {
    authorize(principalOf(res), "read", "reading resources");
    return definitionFor(req);
  };
  const write = (req: Request, res: Response, verb: string): KindDefinition => {
    const definition = definitionFor(req);
    authorizeWrite(res, [definition], verb);
    return definition;
  };
  const listed = (res: Response, definition: KindDefinition, items: Resource[]) =>
    list(
      definition,
      items.map((item) => shown(item, principalOf(res))),
    );
  router.get(paths("/:plural"), (req, res) => {
    const definition = read(req, res);
    res.json(listed(res, definition, store.list(definition)));
  });
  router.get(paths("/namespaces/:namespace/:plural"), (req, res) => {
    const definition = read(req, res);
    res.json(listed(res, definition, store.list(definition, namespaceOf(req))));
  });
  router.post(paths("/namespaces/:namespace/:plural"), async (req, res) => {
    const definition = write(req, res, "creating");
    const manifest = manifestAt(req, definition);
    if (store.get(definition, manifest.metadata.namespace, manifest.metadata.name)) {
      throw new HeraldError(
        "Conflict",
        `${definition.kind} ${manifest.metadata.namespace}/${manifest.metadata.name} already exists`,
      );
    }
    const [created] = await resources.apply([manifest]);
    res.status(201).json(shown(created!, principalOf(res)));
  });
  router.get(paths("/namespaces/:namespace/:plural/:name"), (req, res) => {
    const definition = read(req, res);
    const resource = store.get(definition, namespaceOf(req), param(req, "name"));
    if (!resource)
      throw new HeraldError(
        "NotFound",
        `${definition.kind} ${param(req, "namespace")}/${param(req, "name")} not found`,
      );
    res.json(shown(resource, principalOf(res)));
  });
  router.put(paths("/namespaces/:namespace/:plural/:name"), async (req, res) => {
    const definition = write(req, res, "applying");
    const existed = store.get(definition, namespaceOf(req), param(req, "name")) !== undefined;
    const [applied] = await resources.apply([manifestAt(req, definition, param(req, "name"))]);
    res.status(existed ? 200 : 201).json(shown(applied!, principalOf(res)));
  });
  router.delete(paths("/namespaces/:namespace/:plural/:name"), async (req, res) => {
    const definition = write(req, res, "deleting");
    const deleted = await resources.delete(definition, namespaceOf(req), param(req, "name"));
    res.json(shown(deleted, principalOf(res)));
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
    const definition = clusterScoped(read(req, res));
    const resource = store.get(definition, "", param(req, "name"));
    if (!resource) throw new HeraldError("NotFound", `${definition.kind} ${param(req, "name")} not found`);
    res.json(shown(resource, principalOf(res)));
  });
  router.delete(paths("/:plural/:name"), async (req, res) => {
    const definition = clusterScoped(write(req, res, "deleting"));
    res.json(shown(await resources.delete(definition, "", param(req, "name")), principalOf(res)));
  });
  return router;
}
