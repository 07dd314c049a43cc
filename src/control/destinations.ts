import type { Destination } from "../resources/common.js";
import type { KindRegistry } from "../resources/kinds.js";
import type { ResourceStore } from "./store.js";

/** What resolving references needs: the stored resources and the kinds they are of. */
export interface References {
  readonly store: ResourceStore;
  readonly kinds: KindRegistry;
}

export class UnresolvableDestination extends Error {}

/**
 * Resolves a Knative Destination to an absolute URL: `uri` as is; `ref` to the referenced
 * resource's `status.address.url`; `ref` + relative `uri` resolved against that address as a URL reference
 * (Knative duck/v1 Destination).
 */
export function resolveDestination(
  references: References,
  destination: Destination,
  namespace: string,
): string {
  if (!destination.ref) return destination.uri!;
  const { ref } = destination;
  const definition = references.kinds.find(ref.apiVersion, ref.kind);
  const refNamespace = ref.namespace ?? namespace;
  const what = `${ref.kind} ${refNamespace}/${ref.name}`;
  if (!definition)
    throw new UnresolvableDestination(`${ref.apiVersion} ${ref.kind} is not an addressable kind`);
  const target = references.store.get(definition, refNamespace, ref.name);
  if (!target) throw new UnresolvableDestination(`${what} not found`);
  const address = target.status.address?.url;
  if (!address) throw new UnresolvableDestination(`${what} has no address yet`);
  if (!destination.uri) return address;
  return new URL(destination.uri, address).toString();
}

/**
 * The CA certificates an https destination is verified with (Knative duck/v1 Destination
 * `CACerts`), besides the system's and HERALD_TLS_CA_FILE's.
 */
export function destinationCACerts(destination: Destination | undefined): string | undefined {
  return destination?.CACerts === "" ? undefined : destination?.CACerts;
}
