import type { Request } from "express";
import { HeraldError } from "../errors.js";
import type { Resource } from "../resources/common.js";
import { EVENT_SELECTABLE_FIELDS, type CoreEventFields } from "../resources/core-event.js";
import { apiVersionOf, coreKinds, type KindDefinition, type KindRegistry } from "../resources/kinds.js";

/**
 * The Kubernetes API objects Herald answers kubectl with: discovery (APIVersions, APIGroupList,
 * APIResourceList), the OpenAPI v3 index, selectors, merge patches and Status (Tables are in
 * kube-tables.ts).
 */

/** A Kubernetes client: kubectl or any client-go program ("kubectl/v1.32.4 (linux/amd64) kubernetes/4cb5f07"). */
export function isKubernetesClient(req: Request): boolean {
  const agent = req.headers["user-agent"] ?? "";
  return /^kubectl[/ ]|\bkubernetes\/[0-9a-f]+/.test(agent);
}

const VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"];

/** Knative's CRD categories, so `kubectl get knative` and `kubectl get all` find Herald's kinds. */
function categoriesOf(definition: KindDefinition): string[] {
  switch (definition.role) {
    case "config":
      return [];
    case "source":
      return ["all", "knative", "sources"];
    case "broker":
    case "trigger":
    case "sink":
    case "registry":
      return ["all", "knative", "eventing"];
    case "flow":
      return ["all", "knative", "flows"];
    case "channel":
    case "backing-channel":
      return ["all", "knative", "messaging", "channel"];
    default:
      return ["all", "knative", "messaging"];
  }
}

export function apiResourceList(groupVersion: string, definitions: readonly KindDefinition[]) {
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion,
    resources: definitions.map((definition) => ({
      name: definition.plural,
      singularName: definition.kind.toLowerCase(),
      namespaced: true,
      kind: definition.kind,
      verbs: VERBS,
      shortNames: definition.shortNames.filter((name) => name !== definition.plural),
      categories: categoriesOf(definition),
    })),
  };
}

/** The kinds served at `group`/`version` ("" is the core group, served under /api). */
export function definitionsAt(kinds: KindRegistry, group: string, version: string): KindDefinition[] {
  return kinds.all().filter((d) => d.group === group && d.versions.includes(version));
}

export function apiGroupList(kinds: KindRegistry) {
  const groups = new Map<string, Set<string>>();
  const preferred = new Map<string, string>();
  for (const definition of kinds.all()) {
    if (!definition.group) continue;
    const versions = groups.get(definition.group) ?? new Set<string>();
    for (const version of definition.versions) versions.add(version);
    groups.set(definition.group, versions);
    if (!preferred.has(definition.group)) preferred.set(definition.group, definition.versions[0]!);
  }
  return {
    kind: "APIGroupList",
    apiVersion: "v1",
    groups: [...groups].map(([name, versions]) => ({
      name,
      versions: [...versions].map((version) => ({ groupVersion: `${name}/${version}`, version })),
      preferredVersion: { groupVersion: `${name}/${preferred.get(name)!}`, version: preferred.get(name)! },
    })),
  };
}

/** The group/version paths of the OpenAPI v3 index, as `apis/{group}/{version}` or `api/v1`. */
export function openApiIndex(kinds: KindRegistry) {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const definition of kinds.all())
    for (const version of definition.versions) {
      const path = definition.group ? `apis/${definition.group}/${version}` : `api/${version}`;
      paths[path] = { serverRelativeURL: `/openapi/v3/${path}` };
    }
  return { paths };
}

/**
 * A minimal OpenAPI v3 document of one group/version: a PATCH operation per kind, declaring the
 * `fieldValidation` parameter, which tells kubectl apply the server validates strictly (Herald
 * refuses unknown fields), so kubectl needs no client-side schema.
 */
export function openApiDocument(group: string, version: string, definitions: readonly KindDefinition[]) {
  const base = group ? `/apis/${group}/${version}` : `/api/${version}`;
  const paths: Record<string, unknown> = {};
  for (const definition of definitions)
    paths[`${base}/namespaces/{namespace}/${definition.plural}/{name}`] = {
      patch: {
        "x-kubernetes-group-version-kind": { group, version, kind: definition.kind },
        parameters: [{ name: "fieldValidation", in: "query", schema: { type: "string" } }],
        responses: { "200": { description: "OK" } },
      },
    };
  return { openapi: "3.0.0", info: { title: "Herald", version: "v1" }, paths };
}

/** A string value, or "" for anything else. */
export const text = (value: unknown): string => (typeof value === "string" ? value : "");

/** Whether the kind is the core v1 Event. */
export function isCoreEvent(definition: KindDefinition): boolean {
  return definition.group === coreKinds.event.group && definition.kind === coreKinds.event.kind;
}

/**
 * The value a fieldSelector compares for `key`: metadata.name and metadata.namespace of every kind,
 * and an Event's own fields (EVENT_SELECTABLE_FIELDS); undefined when the kind has no such field.
 */
export function selectableField(
  definition: KindDefinition,
  resource: Resource,
  key: string,
): string | undefined {
  if (key === "metadata.name") return resource.metadata.name;
  if (key === "metadata.namespace") return resource.metadata.namespace;
  const field = isCoreEvent(definition) ? EVENT_SELECTABLE_FIELDS[key] : undefined;
  return field?.(resource.spec as CoreEventFields);
}

/** The fields `selectableField` knows for a kind, to name them when another one is asked for. */
export function selectableFields(definition: KindDefinition): string[] {
  return [
    "metadata.name",
    "metadata.namespace",
    ...(isCoreEvent(definition) ? Object.keys(EVENT_SELECTABLE_FIELDS) : []),
  ];
}

/** True when an Accept header asks for a meta.k8s.io Table. */
export function wantsTable(req: Request): boolean {
  const accept = req.headers.accept ?? "";
  return accept.split(",").some((type) => /;\s*as=Table/.test(type) && /g=meta\.k8s\.io/.test(type));
}

const REASONS: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  409: "AlreadyExists",
  413: "RequestEntityTooLarge",
  415: "UnsupportedMediaType",
  422: "Invalid",
  500: "InternalError",
  503: "ServiceUnavailable",
};

/**
 * A Kubernetes Status of a Herald error body `{code, message, details}`; kubectl prints it as
 * `Error from server (NotFound): ...`. Validation problems become its `details.causes`, with the
 * kind and name of the resource written (`subject`) when the request body names them.
 */
export function statusOf(
  httpStatus: number,
  body: { message?: unknown; details?: unknown },
  subject?: { kind: string; name: string },
) {
  // Herald's validation errors carry `details: {problems: [{path, message}]}`.
  const listed = (body.details as { problems?: unknown } | undefined)?.problems;
  const problems = Array.isArray(listed)
    ? listed.filter(
        (problem): problem is { path: string; message: string } =>
          typeof problem === "object" && problem !== null && "message" in problem,
      )
    : [];
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: text(body.message),
    reason: REASONS[httpStatus] ?? (httpStatus >= 500 ? "InternalError" : "BadRequest"),
    ...(problems.length
      ? {
          details: {
            // kubectl prints `The {kind} "{name}" is invalid:` and the causes, when it has both.
            ...subject,
            causes: problems.map((problem) => ({
              reason: "FieldValueInvalid",
              field: problem.path,
              message: problem.message,
            })),
          },
        }
      : {}),
    code: httpStatus,
  };
}

/** The resource as a manifest again, the document a merge patch applies to. */
export function manifestOf(definition: KindDefinition, resource: Resource): Record<string, unknown> {
  const envelope = {
    apiVersion: apiVersionOf(definition),
    kind: definition.kind,
    metadata: resource.metadata,
  };
  switch (definition.specField ?? "spec") {
    case "fields":
      return { ...envelope, ...resource.spec };
    case "top-level":
    case "data":
      return { ...envelope, data: resource.spec };
    case "spec":
      return { ...envelope, spec: resource.spec };
  }
}

/** JSON Merge Patch (RFC 7386): objects merge key by key, `null` removes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A selector requirement: `key=value`, `key!=value`, `key` (exists) or `!key` (absent). */
interface Requirement {
  readonly key: string;
  readonly operator: "=" | "!=" | "exists" | "absent";
  readonly value: string;
}

/** Parses an equality-based selector (labelSelector, fieldSelector); set-based ones are refused. */
export function parseSelector(selector: string, what: string): Requirement[] {
  const out: Requirement[] = [];
  for (const part of selector.split(",").map((p) => p.trim())) {
    if (!part) continue;
    const match = /^([^!=\s]+)\s*(==|=|!=)\s*([^=\s]*)$/.exec(part);
    if (match) {
      out.push({ key: match[1]!, operator: match[2] === "!=" ? "!=" : "=", value: match[3]! });
      continue;
    }
    if (/^!?[A-Za-z0-9._/-]+$/.test(part)) {
      const absent = part.startsWith("!");
      out.push({ key: absent ? part.slice(1) : part, operator: absent ? "absent" : "exists", value: "" });
      continue;
    }
    throw new HeraldError(
      "InvalidResource",
      `${what} ${JSON.stringify(part)} is not supported: use key=value, key!=value, key or !key`,
    );
  }
  return out;
}

export function matches(requirements: readonly Requirement[], values: (key: string) => string | undefined) {
  return requirements.every(({ key, operator, value }) => {
    const actual = values(key);
    if (operator === "exists") return actual !== undefined;
    if (operator === "absent") return actual === undefined;
    return operator === "=" ? actual === value : actual !== value;
  });
}
