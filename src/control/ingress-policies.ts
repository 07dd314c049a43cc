import { audienceOf } from "../auth/identity.js";
import type { AddressPolicy } from "../ingress/authorization.js";
import { coreKinds, type KindRegistry } from "../resources/kinds.js";
import type { EventPolicyReconciler } from "./event-policies.js";
import type { ResourceStore } from "./store.js";

/**
 * What ingress enforces at every address, by `brokers/<ns>/<name>` and `channels/<ns>/<name>`: a
 * Broker's audience and policies; at a channel address, the backing channel's audience (a Channel
 * announces its backing channel's, as in Knative) and the policies of both it and its Channel.
 * `holds` tells which backing channel serves an address when two claim it.
 */
export function ingressAddresses(
  policies: EventPolicyReconciler,
  deps: { readonly store: ResourceStore; readonly kinds: KindRegistry },
  holds: (kind: string, namespace: string, name: string) => boolean,
): Map<string, AddressPolicy> {
  const { store, kinds } = deps;
  const addresses = new Map<string, AddressPolicy>();
  const broker = coreKinds.broker;
  for (const resource of store.list(broker)) {
    const { namespace, name } = resource.metadata;
    const audience = audienceOf(broker.group, broker.kind, namespace, name);
    addresses.set(
      `brokers/${namespace}/${name}`,
      policies.addressPolicy(audience, namespace, policies.applyingTo(broker.group, broker.kind, resource)),
    );
  }
  for (const definition of kinds.withRole("backing-channel")) {
    for (const resource of store.list(definition)) {
      const { namespace, name, ownerReferences } = resource.metadata;
      if (!holds(resource.kind, namespace, name)) continue;
      const applying = policies.applyingTo(definition.group, definition.kind, resource);
      const owner = ownerReferences?.[0];
      const channel =
        owner?.kind === coreKinds.channel.kind
          ? store.get(coreKinds.channel, namespace, owner.name)
          : undefined;
      if (channel)
        for (const policy of policies.applyingTo(coreKinds.channel.group, coreKinds.channel.kind, channel))
          if (!applying.some((known) => known.metadata.uid === policy.metadata.uid)) applying.push(policy);
      const audience = audienceOf(definition.group, definition.kind, namespace, name);
      addresses.set(`channels/${namespace}/${name}`, policies.addressPolicy(audience, namespace, applying));
    }
  }
  // Sinks Herald runs (EventTransform, JobSink, KafkaSink) are addressables with an audience too.
  for (const definition of kinds.withRole("sink")) {
    for (const resource of store.list(definition)) {
      const { namespace, name } = resource.metadata;
      const audience = audienceOf(definition.group, definition.kind, namespace, name);
      const applying = policies.applyingTo(definition.group, definition.kind, resource);
      addresses.set(
        `sinks/${definition.plural}/${namespace}/${name}`,
        policies.addressPolicy(audience, namespace, applying),
      );
    }
  }
  return addresses;
}
