import { isDeepStrictEqual } from "node:util";
import type { Condition, Destination, Resource } from "../resources/common.js";
import { apiVersionOf, coreKinds, type KindRegistry } from "../resources/kinds.js";
import type { SubscriptionSpec } from "../resources/messaging.js";
import { validateManifest } from "../resources/validation.js";
import type { ChannelTemplate } from "../control/brokers.js";
import type { ResourceStore } from "../control/store.js";

/** A Subscription a flow owns: its name and spec, as Knative's flow controllers build them. */
export interface OwnedSubscription {
  readonly name: string;
  readonly spec: SubscriptionSpec;
}

/** A reference to one of a flow's channels, as the destination of a subscriber's reply. */
export function channelDestination(template: ChannelTemplate, namespace: string, name: string): Destination {
  return { ref: { apiVersion: template.apiVersion, kind: template.kind, name, namespace } };
}

/**
 * Writes a flow's Subscriptions, owned by it (a spec that did not change is not written again).
 * Returns a problem message when one cannot be written: invalid, or held by another owner.
 */
export async function applySubscriptions(
  deps: { readonly kinds: KindRegistry; readonly store: ResourceStore },
  owner: Resource<string, unknown>,
  subscriptions: readonly OwnedSubscription[],
): Promise<string | undefined> {
  const { kinds, store } = deps;
  const { namespace } = owner.metadata;
  for (const { name, spec } of subscriptions) {
    const result = validateManifest(kinds, {
      apiVersion: apiVersionOf(coreKinds.subscription),
      kind: coreKinds.subscription.kind,
      metadata: { name, namespace },
      spec,
    });
    if (!result.manifest)
      return `Subscription ${name}: ${result.problems.map((p) => `${p.path}: ${p.message}`).join("; ")}`;
    const existing = store.get(coreKinds.subscription, namespace, name);
    if (existing && existing.metadata.ownerReferences?.[0]?.uid !== owner.metadata.uid)
      return `Subscription ${namespace}/${name} exists and is not owned by this ${owner.kind}`;
    if (!existing || !isDeepStrictEqual(existing.spec, result.manifest.spec))
      await store.apply([result.manifest], owner);
  }
  return undefined;
}

/** Deletes the Subscriptions owned by a resource of `ownerKind` that no owner asks for any more. */
export async function deleteUnwantedSubscriptions(
  store: ResourceStore,
  ownerKind: string,
  wanted: ReadonlySet<string>,
): Promise<void> {
  for (const subscription of store.list(coreKinds.subscription)) {
    const { namespace, name, ownerReferences } = subscription.metadata;
    if (ownerReferences?.[0]?.kind !== ownerKind || wanted.has(`${namespace}/${name}`)) continue;
    await store.delete(coreKinds.subscription, namespace, name);
  }
}

/** Knative's ObjectReference of a flow's child and its Ready condition, as flow statuses list them. */
export interface ChildStatus {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
  readonly ready: Condition | { type: "Ready"; status: "Unknown"; reason: string; message: string };
}

/** A child's reference and Ready condition; Unknown while it does not exist yet. */
export function childStatus(
  kinds: KindRegistry,
  store: ResourceStore,
  reference: { apiVersion: string; kind: string; name: string; namespace: string },
): ChildStatus {
  const definition = kinds.find(reference.apiVersion, reference.kind);
  const child = definition && store.get(definition, reference.namespace, reference.name);
  const ready = child?.status.conditions?.find((c) => c.type === "Ready");
  return {
    ...reference,
    ready: ready ?? {
      type: "Ready",
      status: "Unknown",
      reason: "NotCreated",
      message: `${reference.kind} ${reference.namespace}/${reference.name} is not there yet`,
    },
  };
}

/** The first child that is not Ready, as a reason and message for the flow's condition. */
export function firstNotReady(children: readonly ChildStatus[]): ChildStatus | undefined {
  return children.find((child) => child.ready.status !== "True");
}

export function notReadyMessage(child: ChildStatus): string {
  const why = child.ready.message ?? child.ready.reason ?? "not ready";
  return `${child.kind} ${child.namespace}/${child.name}: ${why}`;
}
