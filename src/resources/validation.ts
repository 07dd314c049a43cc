import { parseAllDocuments } from "yaml";
import type { z } from "zod";
import { HeraldError } from "../errors.js";
import { keptMetadata, objectMetaSchema, type ObjectMeta } from "./common.js";
import type { KindDefinition, KindRegistry } from "./kinds.js";
import { kindVerdict, type LeftAside } from "./left-aside.js";

/** One validation problem, with the field path a user can find in their YAML. */
export interface Problem {
  path: string;
  message: string;
}

/** A validated manifest: the user's intent, before the store adds uid, generation and status. */
export interface Manifest {
  definition: KindDefinition;
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: Record<string, unknown>;
}

/** A manifest's spec typed by its kind, when the manifest is of that kind (else undefined). */
export function specOf<Spec, Kind extends string>(
  manifest: Manifest,
  definition: KindDefinition<Spec, Kind>,
): Spec | undefined {
  return (manifest.definition as KindDefinition<unknown>) === definition
    ? (manifest.spec as Spec)
    : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function joinPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const key of path) {
    out += typeof key === "number" ? `[${key}]` : out ? `.${String(key)}` : String(key);
  }
  return out;
}

/** Turns zod issues into readable lines, once, for every entry point. */
export function problemsFromZod(error: z.ZodError, prefix = ""): Problem[] {
  return error.issues.flatMap((issue) => {
    // Strict objects: one line per field, named by its own path (`spec.fliter: unknown field`).
    if (issue.code === "unrecognized_keys")
      return issue.keys.map((key) => ({
        path: joinPath(prefix, [...issue.path, key]),
        message: "unknown field",
      }));
    let message = issue.message;
    if (issue.code === "invalid_type" && (message === "is required" || /received undefined/.test(message)))
      message = "is required";
    else if (issue.code === "invalid_type") message = `must be ${issue.expected}`;
    else if (issue.code === "invalid_value" && "values" in issue)
      message = `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    return { path: joinPath(prefix, issue.path), message };
  });
}

export function invalidResource(problems: Problem[], what = "resource"): HeraldError {
  return new HeraldError(
    "InvalidResource",
    `invalid ${what}: ${problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join("; ")}`,
    { problems },
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * A value without the null fields of its objects (array items are kept): the API server prunes a
 * null from a custom resource's field whose schema does not make it nullable (Kubernetes,
 * "Defaulting and Nullable"), and decodes a null ObjectMeta map as none, so `annotations:` or
 * `delivery:` left empty, or holding only a comment, is an absent field.
 */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (!isRecord(value)) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, child]) => child !== null)
      .map(([key, child]) => [key, withoutNulls(child)]),
  );
}

/**
 * The limits every manifest is held to, wherever it comes from (API, `/apply`, the config folder):
 * a resource nested deeper than `maxDepth` objects and arrays, or larger than `maxBytes` as JSON,
 * is refused before its schema is checked, so that no resource can make the store unwritable or
 * hold the event loop while it is serialised.
 */
export const MANIFEST_LIMITS = { maxDepth: 32, maxBytes: 1024 * 1024 } as const;

/**
 * The depth and size problems of one manifest (empty when within `MANIFEST_LIMITS`). The walk is
 * iterative and stops at the first level past the limit, so any nesting is safe to check.
 */
export function checkManifestLimits(input: unknown, prefix = ""): Problem[] {
  const { maxDepth, maxBytes } = MANIFEST_LIMITS;
  const stack: { value: unknown; depth: number; path: readonly PropertyKey[] }[] = [
    { value: input, depth: 1, path: [] },
  ];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const { value, depth, path } = item;
    if (typeof value !== "object" || value === null) continue;
    if (depth > maxDepth) {
      return [
        {
          path: joinPath(prefix, path),
          message: `nests objects and arrays deeper than ${maxDepth} levels, the limit of a resource`,
        },
      ];
    }
    for (const [key, child] of Object.entries(value))
      stack.push({
        value: child,
        depth: depth + 1,
        path: [...path, Array.isArray(value) ? Number(key) : key],
      });
  }
  const bytes = Buffer.byteLength(JSON.stringify(input) ?? "");
  if (bytes > maxBytes) {
    return [
      {
        path: prefix,
        message: `is ${bytes} bytes as JSON, more than ${maxBytes} bytes, the limit of a resource`,
      },
    ];
  }
  return [];
}

/** Validates one object as a Herald resource manifest; returns every problem at once. */
export function validateManifest(
  kinds: KindRegistry,
  input: unknown,
  prefix = "",
): { manifest?: Manifest; problems: Problem[] } {
  const at = (path: string) => (prefix ? `${prefix}.${path}` : path);
  if (!isRecord(input))
    return { problems: [{ path: prefix, message: "must be an object (a resource manifest)" }] };
  const beyondLimits = checkManifestLimits(input, prefix);
  if (beyondLimits.length > 0) return { problems: beyondLimits };
  const problems: Problem[] = [];
  const { apiVersion, kind } = input;
  if (typeof apiVersion !== "string" || !apiVersion)
    problems.push({ path: at("apiVersion"), message: "is required" });
  if (typeof kind !== "string" || !kind) problems.push({ path: at("kind"), message: "is required" });
  const verdict =
    typeof apiVersion === "string" && typeof kind === "string" && problems.length === 0
      ? kindVerdict(kinds, apiVersion, kind)
      : undefined;
  const definition = verdict && "served" in verdict ? verdict.served : undefined;
  if (verdict && "refused" in verdict) problems.push({ path: at("kind"), message: verdict.refused });
  if (verdict && "leftAside" in verdict)
    problems.push({ path: at("kind"), message: `${verdict.leftAside}: it cannot be applied on its own` });
  const metadata = objectMetaSchema.safeParse(withoutNulls(input.metadata ?? undefined));
  if (!metadata.success) problems.push(...problemsFromZod(metadata.error, at("metadata")));
  let spec: Record<string, unknown> | undefined;
  if (definition) {
    const field = definition.specField ?? "spec";
    // As Kubernetes' strict field validation; `status` is the server's and ignored when applied.
    const envelope = new Set(["apiVersion", "kind", "metadata", "status"]);
    let body: unknown;
    const topLevel = field === "top-level" || field === "fields";
    if (topLevel) {
      // The kind's strict schema names the top-level fields it takes (a Secret's data, stringData).
      body = Object.fromEntries(Object.entries(input).filter(([key]) => !envelope.has(key)));
    } else {
      for (const key of Object.keys(input))
        if (!envelope.has(key) && key !== field) problems.push({ path: at(key), message: "unknown field" });
      body = withoutNulls(input[field] ?? {});
    }
    const parsed = definition.specSchema.safeParse(body);
    if (parsed.success) spec = parsed.data;
    else problems.push(...problemsFromZod(parsed.error, topLevel ? prefix : at(field)));
  }
  if (problems.length > 0 || !definition || !metadata.success || !spec) return { problems };
  return {
    manifest: {
      definition,
      apiVersion: apiVersion as string,
      kind: kind as string,
      metadata: {
        ...keptMetadata(metadata.data),
        // Kubernetes ignores a namespace given to a cluster-scoped object.
        ...(definition.clusterScoped ? { namespace: "" } : {}),
      },
      spec,
    },
    problems,
  };
}

/** A file's documents: the manifests to apply, and the documents of kinds Herald does not run. */
export interface ReadManifests {
  readonly manifests: Manifest[];
  readonly leftAside: LeftAside[];
}

/**
 * Parses a YAML (or JSON) text of one or more documents, as Knative users write them: the
 * documents of kinds Herald serves become validated manifests, all or nothing (any problem in any
 * of them rejects the whole text, listing every problem with its document), and documents of kinds
 * Herald does not run (a Deployment, a Service, RBAC...) are left aside, each with the reason.
 */
export function readManifests(kinds: KindRegistry, text: string, source = "input"): ReadManifests {
  let documents: ReturnType<typeof parseAllDocuments>;
  try {
    documents = parseAllDocuments(text, { prettyErrors: true });
  } catch (error) {
    throw invalidResource([{ path: source, message: `not valid YAML: ${messageOf(error)}` }]);
  }
  const problems: Problem[] = [];
  const manifests: Manifest[] = [];
  const leftAside: LeftAside[] = [];
  const docs = Array.isArray(documents) ? documents : [documents];
  docs.forEach((document, index) => {
    const where = docs.length > 1 ? `${source}[${index}]` : "";
    if (document.errors.length > 0) {
      for (const error of document.errors) problems.push({ path: where || source, message: error.message });
      return;
    }
    let value: unknown;
    try {
      // Throws on an alias bomb (yaml's maxAliasCount) and on nesting too deep to build.
      value = document.toJS();
    } catch (error) {
      problems.push({ path: where || source, message: messageOf(error) });
      return;
    }
    if (value === null || value === undefined) return; // an empty document between separators
    const items =
      isRecord(value) && Array.isArray(value.items) && /List$/.test(String(value.kind))
        ? value.items
        : [value];
    items.forEach((item: unknown, itemIndex: number) => {
      const prefix = items.length > 1 ? `${where}items[${itemIndex}]` : where;
      const aside = leftAsideOf(kinds, item, prefix || source);
      if (aside) {
        leftAside.push(aside);
        return;
      }
      const result = validateManifest(kinds, item, prefix);
      problems.push(...result.problems);
      if (result.manifest) manifests.push(result.manifest);
    });
  });
  if (problems.length > 0) throw invalidResource(problems, `manifest in ${source}`);
  return { manifests, leftAside };
}

/** The note for a document of a kind Herald does not run; undefined for any other document. */
function leftAsideOf(kinds: KindRegistry, item: unknown, document: string): LeftAside | undefined {
  if (!isRecord(item)) return undefined;
  const { apiVersion, kind } = item;
  if (typeof apiVersion !== "string" || typeof kind !== "string" || !apiVersion || !kind) return undefined;
  const verdict = kindVerdict(kinds, apiVersion, kind);
  if (!("leftAside" in verdict)) return undefined;
  const metadata = isRecord(item.metadata) ? item.metadata : {};
  const text = (value: unknown) => (typeof value === "string" ? value : undefined);
  return {
    document,
    apiVersion,
    kind,
    namespace: text(metadata.namespace),
    name: text(metadata.name),
    reason: verdict.leftAside,
  };
}

/** `readManifests` for callers that take Herald's kinds only: a document of another kind is refused. */
export function parseManifests(kinds: KindRegistry, text: string, source = "input"): Manifest[] {
  const { manifests, leftAside } = readManifests(kinds, text, source);
  if (leftAside.length > 0)
    throw invalidResource(
      leftAside.map((aside) => ({
        path: aside.document === source ? "kind" : `${aside.document}.kind`,
        message: aside.reason,
      })),
      `manifest in ${source}`,
    );
  return manifests;
}
