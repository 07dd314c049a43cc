import express, { type NextFunction, type Request, type Response } from "express";
import { parse as parseYaml } from "yaml";
import type { ResourceService } from "../control/resource-service.js";
import { errorBody, HeraldError, httpStatusOf } from "../errors.js";
import type { Resource } from "../resources/common.js";
import { apiVersionOf, type KindDefinition } from "../resources/kinds.js";
import { servedResource } from "../resources/served.js";
import { invalidResource, validateManifest } from "../resources/validation.js";
import {
  apiGroupList,
  apiResourceList,
  definitionsAt,
  isKubernetesClient,
  manifestOf,
  matches,
  mergePatch,
  openApiDocument,
  openApiIndex,
  parseSelector,
  selectableField,
  selectableFields,
  statusOf,
  wantsTable,
} from "./kube-objects.js";
import { table, type IncludeObject } from "./kube-tables.js";

/** Who may do what and see what: the resource API's authorization, given by the app. */
export interface KubernetesAccess {
  /** Throws Unauthorized or Forbidden unless the caller answered by `res` has `role`. */
  authorize(res: Response, role: "read" | "write" | "admin", what: string): void;
  /** The resource as that caller may see it (Secret values redacted below the admin role). */
  shown(resource: Resource, res: Response): Resource;
}

/** A resource's state, as a watch compares it: applies bump resourceVersion, reconciles change status. */
type Snapshot = Map<string, { resource: Resource; print: string }>;

function snapshotOf(resources: readonly Resource[]): Snapshot {
  return new Map(
    resources.map((resource) => [
      `${resource.apiVersion}/${resource.kind}/${resource.metadata.namespace}/${resource.metadata.name}`,
      {
        resource,
        print: `${resource.metadata.uid}/${resource.metadata.resourceVersion}/${JSON.stringify(resource.status)}`,
      },
    ]),
  );
}

/** How many list states are kept for watches that start from a list's resourceVersion. */
const REMEMBERED_LISTS = 64;

/** How often a watch compares the store's resources with what it has sent. */
const WATCH_POLL_MS = 200;

/**
 * What kubectl needs beyond the resource API (src/api/resources.ts) to work against Herald with
 * `--server`:
 *   GET   /version, /api, /api/v1, /apis, /apis/{group}/{version}         discovery
 *   GET   /openapi/v3, /openapi/v3/{api|apis}/...                          tells kubectl apply the server validates
 *   GET   lists and resources with `Accept: ...;as=Table;g=meta.k8s.io`    Tables with Knative's printer columns
 *   GET   lists with `?watch=true`                                         watch events, one JSON object a line
 *   GET   lists with labelSelector / fieldSelector (metadata.name, metadata.namespace; an Event's
 *         involvedObject.*, type, reason... as `kubectl describe` asks for the Events of an object)
 *   PATCH /apis/{group}/{version}/namespaces/{ns}/{plural}/{name}          merge patch (and strategic merge patch,
 *                                                                          treated as a merge patch; apply patch)
 * Any other request falls through to the resource API.
 */
export function kubernetesRouter(resources: ResourceService, access: KubernetesAccess): express.Router {
  const router = express.Router();
  const { store, kinds } = resources;
  const reading = (res: Response, what: string) => access.authorize(res, "read", what);

  router.get("/version", (_req, res) => {
    reading(res, "reading the version");
    res.json({
      major: "1",
      minor: "32",
      gitVersion: "v1.32.0-herald",
      platform: `${process.platform}/${process.arch}`,
    });
  });
  router.get("/api", (req, res) => {
    reading(res, "listing API versions");
    res.json({
      kind: "APIVersions",
      versions: ["v1"],
      serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: req.headers.host ?? "" }],
    });
  });
  // Herald's own `kinds` list stays beside the APIGroupList, for the herald CLI and scripts.
  router.get("/apis", (_req, res) => {
    reading(res, "listing kinds");
    res.json({
      ...apiGroupList(kinds),
      kinds: kinds.all().map((d) => ({
        apiVersion: apiVersionOf(d),
        kind: d.kind,
        plural: d.plural,
        shortNames: d.shortNames,
      })),
    });
  });
  const resourceList = (group: string, version: string, res: Response) => {
    reading(res, "listing kinds");
    const definitions = definitionsAt(kinds, group, version);
    if (!definitions.length)
      throw new HeraldError("NotFound", `the server does not serve ${group ? `${group}/` : ""}${version}`);
    res.json(apiResourceList(group ? `${group}/${version}` : version, definitions));
  };
  router.get("/api/:version", (req, res) => resourceList("", req.params.version, res));
  router.get("/apis/:group/:version", (req, res) => resourceList(req.params.group, req.params.version, res));
  router.get("/openapi/v3", (_req, res) => {
    reading(res, "reading the OpenAPI index");
    res.json(openApiIndex(kinds));
  });
  const openApi = (group: string, version: string, res: Response) => {
    reading(res, "reading OpenAPI");
    const definitions = definitionsAt(kinds, group, version);
    if (!definitions.length)
      throw new HeraldError("NotFound", `the server does not serve ${group ? `${group}/` : ""}${version}`);
    res.json(openApiDocument(group, version, definitions));
  };
  router.get("/openapi/v3/api/:version", (req, res) => openApi("", req.params.version, res));
  router.get("/openapi/v3/apis/:group/:version", (req, res) =>
    openApi(req.params.group, req.params.version, res),
  );

  const definitionFor = (req: Request): KindDefinition => {
    const { group, version, plural } = req.params as Record<string, string | undefined>;
    const definition = kinds.forPath(group ?? "", version ?? "", plural ?? "");
    if (!definition)
      throw new HeraldError("NotFound", `the server does not serve ${plural} in ${group ?? ""}/${version}`);
    return definition;
  };
  const paths = (rest: string) => [`/apis/:group/:version${rest}`, `/api/:version${rest}`];

  /**
   * The states of recent lists, by the resourceVersion the list answered with, so a watch from
   * that resourceVersion (kubectl get -w, kubectl wait) reports every change since the list,
   * status changes included, without missing one made between the list and the watch.
   */
  const snapshots = new Map<string, Snapshot>();
  let lists = 0;
  const remember = (snapshot: Snapshot): string => {
    const version = `list-${++lists}`;
    snapshots.set(version, snapshot);
    for (const oldest of snapshots.keys()) {
      if (snapshots.size <= REMEMBERED_LISTS) break;
      snapshots.delete(oldest);
    }
    return version;
  };

  /** Lists with a Table, a selector or a watch; a plain list or read is the resource API's. */
  const listing = (req: Request, res: Response, next: NextFunction) => {
    const query = req.query as Record<string, unknown>;
    const watching = query.watch === "true" || query.watch === "1";
    const selected = typeof query.labelSelector === "string" || typeof query.fieldSelector === "string";
    if (!watching && !selected && !wantsTable(req)) return next();
    const definition = definitionFor(req);
    reading(res, "reading resources");
    const { namespace, name: single } = req.params as Record<string, string | undefined>;
    const labels = parseSelector(
      typeof query.labelSelector === "string" ? query.labelSelector : "",
      "labelSelector",
    );
    const fields = parseSelector(
      typeof query.fieldSelector === "string" ? query.fieldSelector : "",
      "fieldSelector",
    );
    for (const { key } of fields)
      if (!selectableFields(definition).includes(key))
        throw new HeraldError(
          "InvalidResource",
          `fieldSelector ${key} is not supported for ${definition.plural}: use ${selectableFields(definition).join(", ")}`,
        );
    const selects = (resource: Resource) =>
      resource.kind === definition.kind &&
      resource.apiVersion === apiVersionOf(definition) &&
      (!namespace || resource.metadata.namespace === namespace) &&
      (!single || resource.metadata.name === single) &&
      matches(labels, (key) => resource.metadata.labels?.[key]) &&
      matches(fields, (key) => selectableField(definition, resource, key));
    const include: IncludeObject =
      query.includeObject === "None" || query.includeObject === "Object" ? query.includeObject : "Metadata";
    // In Kubernetes' shape, as the resource API answers (a ConfigMap's `data`, an Event's fields).
    const served = (resource: Resource) => servedResource(kinds, resource);
    const render = (items: Resource[]) => {
      const visible = items.map((item) => access.shown(item, res));
      const version = remember(snapshotOf(items));
      if (wantsTable(req)) return table(definition, visible, include, version, served);
      return {
        apiVersion: apiVersionOf(definition),
        kind: `${definition.kind}List`,
        metadata: { resourceVersion: version },
        items: visible.map(served),
      };
    };
    if (watching)
      return watch(req, res, selects, (resource) => {
        const view = access.shown(resource, res);
        return wantsTable(req)
          ? table(definition, [view], include, String(resource.metadata.resourceVersion), served)
          : served(view);
      });
    const items = store.list(definition, namespace).filter(selects);
    if (single && !selected) {
      if (!items.length)
        throw new HeraldError("NotFound", `${definition.kind} ${namespace}/${single} not found`);
      res.json(render(items));
      return;
    }
    res.json(render(items));
  };

  /** Streams `{type, object}` lines until the client goes away or `timeoutSeconds` passes. */
  const watch = (
    req: Request,
    res: Response,
    selects: (resource: Resource) => boolean,
    view: (resource: Resource) => unknown,
  ) => {
    res.status(200).set({ "content-type": "application/json", "cache-control": "no-cache" });
    res.flushHeaders();
    const send = (type: string, resource: Resource) =>
      res.write(`${JSON.stringify({ type, object: view(resource) })}\n`);
    const from = typeof req.query.resourceVersion === "string" ? req.query.resourceVersion : "";
    // Kubernetes: a watch without a resourceVersion (or "0") starts with the current objects as ADDED;
    // from a list's resourceVersion it reports what changed since that list.
    let seen: Snapshot | undefined = from === "" || from === "0" ? new Map() : snapshots.get(from);
    const poll = () => {
      const now = snapshotOf(store.list().filter(selects));
      if (seen) {
        for (const [key, { resource, print }] of now) {
          const before = seen.get(key);
          if (!before) send("ADDED", resource);
          else if (before.print !== print) send("MODIFIED", resource);
        }
        for (const [key, { resource }] of seen) if (!now.has(key)) send("DELETED", resource);
      }
      seen = now;
    };
    poll();
    const poller = setInterval(poll, WATCH_POLL_MS);
    const seconds = Number(req.query.timeoutSeconds);
    const timer = seconds > 0 ? setTimeout(() => res.end(), seconds * 1000) : undefined;
    res.on("close", () => {
      clearInterval(poller);
      clearTimeout(timer);
    });
  };
  router.get(paths("/:plural"), listing);
  router.get(paths("/namespaces/:namespace/:plural"), listing);
  router.get(paths("/namespaces/:namespace/:plural/:name"), listing);

  router.patch(
    paths("/namespaces/:namespace/:plural/:name"),
    express.json({
      limit: "8mb",
      type: ["application/merge-patch+json", "application/strategic-merge-patch+json", "application/json"],
    }),
    express.text({ limit: "8mb", type: "application/apply-patch+yaml" }),
    async (req, res) => {
      const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
      if (
        type === "application/json-patch+json" ||
        (typeof req.body !== "object" && typeof req.body !== "string")
      )
        throw new HeraldError(
          "UnsupportedMediaType",
          `PATCH with Content-Type ${type || "(none)"} is not accepted: send application/merge-patch+json, application/strategic-merge-patch+json (applied as a merge patch) or application/apply-patch+yaml`,
        );
      const definition = definitionFor(req);
      // A privileged kind (ProcessSource) runs code on Herald's host: changing it needs admin.
      const privileged = "privileged" in definition && definition.privileged === true;
      access.authorize(
        res,
        privileged ? "admin" : "write",
        privileged
          ? `patching a ${definition.kind} (it runs commands on Herald's host)`
          : "patching resources",
      );
      const namespace = String(req.params.namespace);
      const name = String(req.params.name);
      let patch: unknown = req.body;
      if (typeof req.body === "string") {
        try {
          patch = parseYaml(req.body);
        } catch (error) {
          throw invalidResource([{ path: "", message: `not valid YAML: ${(error as Error).message}` }]);
        }
      }
      const existing = store.get(definition, namespace, name);
      // A server-side apply creates what does not exist; a merge patch needs something to patch.
      if (!existing && type !== "application/apply-patch+yaml")
        throw new HeraldError("NotFound", `${definition.kind} ${namespace}/${name} not found`);
      const base = existing
        ? manifestOf(definition, existing)
        : { apiVersion: apiVersionOf(definition), kind: definition.kind, metadata: { name, namespace } };
      const { manifest, problems } = validateManifest(kinds, mergePatch(base, patch));
      if (!manifest) throw invalidResource(problems);
      const mismatch = [];
      if (manifest.definition !== definition)
        mismatch.push({ path: "kind", message: `must be ${definition.kind} at this URL` });
      if (manifest.metadata.name !== name)
        mismatch.push({ path: "metadata.name", message: `must be ${name} at this URL` });
      if (manifest.metadata.namespace !== namespace)
        mismatch.push({ path: "metadata.namespace", message: `must be ${namespace} at this URL` });
      if (mismatch.length) throw invalidResource(mismatch);
      const [applied] = await resources.apply([manifest]);
      res.status(existing ? 200 : 201).json(access.shown(applied!, res));
    },
  );
  // This router's own errors, rendered as the resource API renders them (as Status for kubectl).
  router.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
    const parser = error as { type?: unknown; message?: unknown };
    if (parser.type === "entity.parse.failed")
      error = new HeraldError("InvalidResource", `request body is not valid JSON: ${String(parser.message)}`);
    if (!(error instanceof HeraldError)) return next(error);
    res.status(httpStatusOf(error)).json(errorBody(error));
  });
  return router;
}

/**
 * For Kubernetes clients, error bodies become Kubernetes `Status` objects (kubectl reads `reason`
 * and `message` from them); every other caller keeps Herald's `{code, message, details}`.
 */
export function kubernetesStatusErrors(req: Request, res: Response, next: NextFunction): void {
  if (isKubernetesClient(req)) {
    const json = res.json.bind(res);
    res.json = ((body: unknown) => {
      const isError = res.statusCode >= 400 && typeof body === "object" && body !== null && "code" in body;
      if (!isError) return json(body);
      const written = req.body as { kind?: unknown; metadata?: { name?: unknown } } | undefined;
      const subject =
        typeof written?.kind === "string" && typeof written.metadata?.name === "string"
          ? { kind: written.kind, name: written.metadata.name }
          : undefined;
      return json(statusOf(res.statusCode, body as { message?: unknown; details?: unknown }, subject));
    }) as Response["json"];
  }
  next();
}
