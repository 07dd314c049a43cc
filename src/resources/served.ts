import type { Resource } from "./common.js";
import type { KindRegistry } from "./kinds.js";

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * A stored resource as the API shows it, in Kubernetes' shape: a kind without `spec` (ConfigMap,
 * Secret) shows its stored data as `data` and has no status, an Event shows its fields at the top
 * level, and a cluster-scoped one (Namespace) has no namespace. What `herald get -o yaml` prints
 * therefore applies again as it is.
 */
export function servedResource(kinds: KindRegistry, resource: Resource): Record<string, unknown> {
  const definition = kinds.find(resource.apiVersion, resource.kind);
  if (!definition) return { ...resource };
  const metadata: Partial<Resource["metadata"]> = { ...resource.metadata };
  if (definition.clusterScoped) delete metadata.namespace;
  const field = definition.specField ?? "spec";
  if (field === "spec") return { ...resource, metadata };
  const { spec, status: _status, ...rest } = resource;
  if (field === "fields") return { ...rest, metadata, ...spec };
  return { ...rest, metadata, data: spec };
}

/**
 * A response body with every resource in it served (see `servedResource`): one resource, or a body
 * whose `items` are resources (a list, the answer of an apply).
 */
export function servedBody(kinds: KindRegistry, body: unknown): unknown {
  const isResource = (value: unknown): value is Resource =>
    isRecord(value) &&
    typeof value.apiVersion === "string" &&
    typeof value.kind === "string" &&
    isRecord(value.metadata) &&
    "spec" in value;
  if (isResource(body)) return servedResource(kinds, body);
  if (isRecord(body) && Array.isArray(body.items))
    return {
      ...body,
      items: (body.items as unknown[]).map((item) => (isResource(item) ? servedResource(kinds, item) : item)),
    };
  return body;
}
