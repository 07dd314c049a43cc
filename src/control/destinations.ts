import { serviceAccountNameOf, subjectOf, type DeliveryIdentity } from "../auth/identity.js";
import type { Destination, KReference, Resource } from "../resources/common.js";
import { coreKinds, type KindRegistry } from "../resources/kinds.js";
import { groupOf, isServiceKind } from "../resources/sinks.js";
import type { ResourceStore } from "./store.js";

/** What resolving references needs: the stored resources, the kinds they are of, and the service rule. */
export interface References {
  readonly store: ResourceStore;
  readonly kinds: KindRegistry;
  /** The URL of a Service by its name and namespace (HERALD_SERVICE_URL_TEMPLATE). */
  readonly serviceUrlTemplate: string;
  /** Knative's authentication-oidc feature: senders then show who they send as (authStatusOf). */
  readonly authenticationOidc?: boolean | undefined;
}

/** Why a reference does not resolve, in the words of the condition reasons it becomes. */
export type UnresolvableReason = "NotFound" | "NotAddressable" | "NotMapped";

export class UnresolvableDestination extends Error {
  constructor(
    readonly reason: UnresolvableReason,
    message: string,
  ) {
    super(message);
  }
}

/** Fills `{name}` and `{namespace}` of the service URL rule. */
export function serviceUrl(template: string, namespace: string, name: string): string {
  return template.replaceAll("{name}", name).replaceAll("{namespace}", namespace);
}

/** The URL of a reference to something Herald does not run: its SinkMapping, else the service rule. */
function mappedUrl(references: References, ref: KReference, namespace: string): string | undefined {
  const group = groupOf(ref.apiVersion);
  const mapping = references.store
    .list(coreKinds.sinkMapping, namespace)
    .find(
      ({ spec }) =>
        groupOf(spec.ref.apiVersion) === group && spec.ref.kind === ref.kind && spec.ref.name === ref.name,
    );
  if (mapping) return mapping.spec.uri;
  if (isServiceKind(ref.apiVersion, ref.kind))
    return serviceUrl(references.serviceUrlTemplate, namespace, ref.name);
  return undefined;
}

/**
 * Resolves a Knative Destination to an absolute URL (Knative duck/v1 Destination): `uri` as is;
 * `ref` to the referenced resource's `status.address.url`; `ref` + relative `uri` resolved against
 * that address as a URL reference. A `ref` to something Herald does not run resolves through a
 * SinkMapping naming it in its namespace, else, for a v1 Service or a serving.knative.dev Service,
 * through the service URL rule; any other is unresolvable, with a message saying how to map it.
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
  let address: string | undefined;
  if (!definition || definition.role === "config") {
    address = mappedUrl(references, ref, refNamespace);
    if (!address)
      throw new UnresolvableDestination(
        "NotMapped",
        `Herald does not run ${ref.apiVersion} ${ref.kind}: give ${what} a URL with a SinkMapping ` +
          `(messaging.herald.dev/v1alpha1) in namespace ${refNamespace}, or use a uri`,
      );
  } else {
    const target = references.store.get(definition, refNamespace, ref.name);
    if (!target) throw new UnresolvableDestination("NotFound", `${what} not found`);
    address = target.status.address?.url;
    if (!address) throw new UnresolvableDestination("NotAddressable", `${what} has no address yet`);
  }
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

/**
 * The audience a destination's deliveries carry a token for (Knative duck/v1 Destination
 * `audience`): the one written, else the `status.address.audience` of the Herald addressable its
 * `ref` names (announced when OIDC ingress authentication is on).
 */
export function destinationAudience(
  references: Pick<References, "store" | "kinds">,
  destination: Destination | undefined,
  namespace: string,
): string | undefined {
  if (!destination) return undefined;
  if (destination.audience) return destination.audience;
  const { ref } = destination;
  if (!ref) return undefined;
  const definition = references.kinds.find(ref.apiVersion, ref.kind);
  if (!definition || definition.role === "config") return undefined;
  return references.store.get(definition, ref.namespace ?? namespace, ref.name)?.status.address?.audience;
}

/**
 * Who `sender` (a Subscription, Trigger or source) sends as to a destination with an audience: the
 * OIDC subject Knative gives it (see subjectOf), with that audience; undefined without one.
 */
export function identityFor(
  sender: Resource<string, unknown>,
  group: string,
  audience: string | undefined,
): DeliveryIdentity | undefined {
  if (!audience) return undefined;
  const { namespace, name } = sender.metadata;
  return { subject: subjectOf(group, sender.kind, namespace, name), audience };
}

/**
 * Knative's AuthStatus of a sender (a Trigger, Subscription or source), shown with OIDC ingress
 * authentication on: the service account whose subject its deliveries carry, for EventPolicy `sub`.
 */
export function authStatusOf(
  references: Pick<References, "authenticationOidc">,
  sender: Resource<string, unknown>,
  group: string,
): { auth?: { serviceAccountName: string } } {
  if (!references.authenticationOidc) return {};
  return { auth: { serviceAccountName: serviceAccountNameOf(group, sender.kind, sender.metadata.name) } };
}
