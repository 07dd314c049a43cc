import { createHash } from "node:crypto";
import type { Logger } from "pino";
import { attributeString, type CloudEvent } from "../events/event.js";
import type { IngressTarget } from "../ingress/ingress.js";
import type { KReference, Resource } from "../resources/common.js";
import type { EventTypeSpec } from "../resources/event-type.js";
import { apiVersionOf, coreKinds, type KindRegistry } from "../resources/kinds.js";
import { validateManifest } from "../resources/validation.js";
import { ConditionSet } from "../control/conditions.js";
import type { StatusWriter } from "../control/status.js";
import type { ResourceStore } from "../control/store.js";

export type EventTypeResource = Resource<"EventType", EventTypeSpec>;

/**
 * Marks the EventTypes Herald created from traffic: only those are deleted with their owner (an
 * applied EventType may carry ownerReferences from a cluster it was copied from).
 */
export const AUTO_CREATED_ANNOTATION = "herald.dev/auto-created";

/** eventing.knative.dev EventType (Knative's eventTypeCondSet). */
export const eventTypeConditions = new ConditionSet("ReferenceExists");

/** Knative's generateEventTypeName: `et-{name}-{md5(type, source, namespace, name)}`, DNS-1123. */
export function eventTypeName(
  reference: KReference & { namespace: string },
  type: string,
  source: string,
): string {
  const suffix = createHash("md5")
    .update(`${type}${source}${reference.namespace}${reference.name}`)
    .digest("hex");
  return `et-${reference.name}-${suffix}`.toLowerCase().slice(0, 253);
}

export interface EventTypeDeps {
  readonly kinds: KindRegistry;
  readonly store: ResourceStore;
  readonly status: StatusWriter;
  readonly logger: Logger;
  /** Herald's eventtype-auto-create setting. */
  readonly autoCreate: boolean;
  /** The most resources the store holds: auto-creation stops there. */
  readonly maxResources: number;
}

/**
 * eventing.knative.dev EventType: stored and listed, `ReferenceExists` from its reference. With
 * Knative's eventtype-auto-create feature on (HERALD_EVENTTYPE_AUTO_CREATE), an event accepted by a
 * Broker's or a channel's ingress creates the EventType of its type and source for that address,
 * owned by it (deleted with it), as Knative's EventTypeAutoHandler does.
 */
export class EventTypeReconciler {
  /** Names created or being created, so a type seen again costs a Set lookup. */
  private readonly known = new Set<string>();

  constructor(private readonly deps: EventTypeDeps) {}

  async reconcile(): Promise<void> {
    const { kinds, store, status } = this.deps;
    const live = new Set(store.list().map((resource) => resource.metadata.uid));
    for (const eventType of store.list(coreKinds.eventType)) {
      const { namespace, name, ownerReferences } = eventType.metadata;
      // Auto-created ones go with their Broker or channel, as Kubernetes' garbage collector does it.
      const autoCreated = eventType.metadata.annotations?.[AUTO_CREATED_ANNOTATION] === "true";
      if (autoCreated && ownerReferences?.[0]?.uid && !live.has(ownerReferences[0].uid)) {
        await store.delete(coreKinds.eventType, namespace, name);
        this.known.delete(`${namespace}/${name}`);
        continue;
      }
      const { reference } = eventType.spec;
      const definition = reference && kinds.find(reference.apiVersion, reference.kind);
      const exists =
        definition !== undefined && store.get(definition, reference?.namespace ?? namespace, reference!.name);
      status.set(eventType, {
        conditions: status.conditions(eventType, [
          !reference
            ? {
                type: "ReferenceExists",
                status: "True",
                reason: "ReferenceNotSet",
                message: "spec.reference is not set",
              }
            : exists
              ? eventTypeConditions.markTrue("ReferenceExists")
              : eventTypeConditions.markFalse(
                  "ReferenceExists",
                  "ResourceDoesNotExist",
                  `${reference.kind} ${reference.namespace ?? namespace}/${reference.name} in spec.reference does not exist`,
                ),
        ]),
      });
    }
  }

  /** The Broker or channel at an ingress address, as the reference of the EventTypes seen there. */
  ingressAddress(
    kind: "channels" | "brokers",
    namespace: string,
    name: string,
    channelKind: string | undefined,
  ): { reference: KReference & { namespace: string }; owner: Resource } | undefined {
    const { kinds, store } = this.deps;
    const definition =
      kind === "brokers" ? coreKinds.broker : channelKind ? kinds.backingChannel(channelKind) : undefined;
    const owner = definition && store.get(definition, namespace, name);
    if (!definition || !owner) return undefined;
    return {
      reference: { apiVersion: apiVersionOf(definition), kind: definition.kind, name, namespace },
      owner,
    };
  }

  /** Wraps an ingress target so what it accepts is observed, when auto-creation is on. */
  observing(
    target: IngressTarget | undefined,
    address: () => { reference: KReference & { namespace: string }; owner: Resource } | undefined,
  ): IngressTarget | undefined {
    if (!target || !this.deps.autoCreate) return target;
    return {
      get ready() {
        return target.ready;
      },
      get message() {
        return target.message;
      },
      publish: async (events) => {
        await target.publish(events);
        const at = address();
        if (at) this.observe(at.reference, at.owner, events);
      },
    };
  }

  private observe(
    reference: KReference & { namespace: string },
    owner: Resource,
    events: readonly CloudEvent[],
  ): void {
    for (const event of events) {
      const type = attributeString(event, "type") ?? "";
      const source = attributeString(event, "source") ?? "";
      const name = eventTypeName(reference, type, source);
      const key = `${reference.namespace}/${name}`;
      if (this.known.has(key) || this.deps.store.get(coreKinds.eventType, reference.namespace, name))
        continue;
      if (this.deps.store.list().length >= this.deps.maxResources) return;
      this.known.add(key);
      void this.create(reference, owner, name, event).catch((error: unknown) => {
        this.known.delete(key);
        this.deps.logger.warn({ eventType: key, err: error }, "creating an observed EventType failed");
      });
    }
  }

  private async create(
    reference: KReference & { namespace: string },
    owner: Resource,
    name: string,
    event: CloudEvent,
  ): Promise<void> {
    const schema = attributeString(event, "dataschema");
    const result = validateManifest(this.deps.kinds, {
      apiVersion: apiVersionOf(coreKinds.eventType),
      kind: coreKinds.eventType.kind,
      metadata: { name, namespace: reference.namespace, annotations: { [AUTO_CREATED_ANNOTATION]: "true" } },
      spec: {
        attributes: [
          { name: "type", value: attributeString(event, "type"), required: true },
          { name: "source", value: attributeString(event, "source"), required: true },
          ...(schema ? [{ name: "schemadata", value: schema, required: true }] : []),
          { name: "specversion", value: attributeString(event, "specversion"), required: true },
          { name: "id", required: true },
        ],
        reference,
        description: "Event Type auto-created by controller",
      },
    });
    if (!result.manifest) throw new Error(result.problems.map((p) => `${p.path}: ${p.message}`).join("; "));
    await this.deps.store.apply([result.manifest], owner);
  }
}
