import type { SubscriptionTarget } from "../../adapters/adapter.js";
import type { SubscriberTarget } from "../dispatcher/delivery.js";
import type { DeliverySpec, Destination, Resource } from "../resources/common.js";
import { kindByName, kindFor } from "../resources/kinds.js";
import type { SubscriptionSpec } from "../resources/messaging.js";
import { channelKey, type ChannelRuntime } from "./channels.js";
import type { ConditionInput } from "./conditions.js";
import { toDeliveryOptions } from "./delivery.js";
import { resolveDestination, UnresolvableDestination } from "./destinations.js";
import type { ResourceStore } from "./store.js";

/** Knative's annotation choosing ordered or unordered delivery (KafkaChannel, Kafka Broker). */
export const DELIVERY_ORDER_ANNOTATION = "kafka.eventing.knative.dev/delivery.order";
/** Herald's annotation bounding concurrent deliveries of one subscription in unordered mode. */
export const MAX_IN_FLIGHT_ANNOTATION = "herald.dev/max-in-flight";

/** One consumer of a channel, derived from a Subscription (or, later, a Trigger). */
export interface DesiredSubscription {
  readonly uid: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly generation: number;
  readonly channelKey: string;
  readonly adapterTarget: SubscriptionTarget;
  readonly target: SubscriberTarget;
}

export interface SubscriptionStatusInput {
  resource: Resource;
  conditions: ConditionInput[];
  extra: Record<string, unknown>;
}

export function adapterTargetFor(resource: Resource, defaultMaxInFlight: number): SubscriptionTarget {
  const annotations = resource.metadata.annotations ?? {};
  const ordering = annotations[DELIVERY_ORDER_ANNOTATION] === "ordered" ? "ordered" : "unordered";
  const requested = Number(annotations[MAX_IN_FLIGHT_ANNOTATION]);
  const maxInFlight =
    ordering === "ordered"
      ? 1
      : Number.isInteger(requested) && requested > 0
        ? requested
        : defaultMaxInFlight;
  const { namespace, name, uid } = resource.metadata;
  return { namespace, name, uid, ordering, maxInFlight };
}

type Resolved = { url?: string | undefined; failure?: ConditionInput | undefined };

function resolveOptional(
  store: ResourceStore,
  destination: Destination | undefined,
  namespace: string,
  reason: string,
): Resolved {
  if (!destination) return {};
  try {
    return { url: resolveDestination(store, destination, namespace) };
  } catch (error) {
    if (!(error instanceof UnresolvableDestination)) throw error;
    return { failure: { type: "ReferencesResolved", status: "False", reason, message: error.message } };
  }
}

/**
 * Derives each Subscription's consumer from the store and the running channels, and the status
 * conditions that explain why one cannot run yet (Knative's ChannelReady, ReferencesResolved).
 */
export function desiredSubscriptions(
  store: ResourceStore,
  channelFor: (namespace: string, name: string) => ChannelRuntime | undefined,
  defaultMaxInFlight = 100,
): { desired: DesiredSubscription[]; statuses: SubscriptionStatusInput[] } {
  const desired: DesiredSubscription[] = [];
  const statuses: SubscriptionStatusInput[] = [];
  const definition = kindByName("Subscription")!;
  for (const resource of store.list(definition)) {
    const spec = resource.spec as unknown as SubscriptionSpec;
    const { namespace } = resource.metadata;
    const conditions: ConditionInput[] = [];
    const channelDefinition = kindFor(spec.channel.apiVersion, spec.channel.kind);
    const channelResource = channelDefinition && store.get(channelDefinition, namespace, spec.channel.name);
    const runtime = channelFor(namespace, spec.channel.name);
    const what = `${spec.channel.kind} ${namespace}/${spec.channel.name}`;
    if (!channelResource) {
      conditions.push({
        type: "ChannelReady",
        status: "False",
        reason: "ChannelNotFound",
        message: `${what} not found`,
      });
    } else if (!runtime || !runtime.ready) {
      conditions.push({
        type: "ChannelReady",
        status: "False",
        reason: "ChannelNotReady",
        message: `${what} is not ready${runtime?.message ? `: ${runtime.message}` : ""}`,
      });
    } else {
      conditions.push({ type: "ChannelReady", status: "True" });
    }
    const subscriber = resolveOptional(store, spec.subscriber, namespace, "SubscriberResolveFailed");
    const reply = resolveOptional(store, spec.reply, namespace, "ReplyResolveFailed");
    // Knative: a Subscription's delivery overrides its channel's.
    const delivery = spec.delivery ?? (channelResource?.spec.delivery as DeliverySpec | undefined);
    const deadLetter = resolveOptional(
      store,
      delivery?.deadLetterSink,
      namespace,
      "DeadLetterSinkResolveFailed",
    );
    const failure = subscriber.failure ?? reply.failure ?? deadLetter.failure;
    conditions.push(failure ?? { type: "ReferencesResolved", status: "True" });
    const physicalSubscription = {
      ...(subscriber.url ? { subscriberUri: subscriber.url } : {}),
      ...(reply.url ? { replyUri: reply.url } : {}),
      ...(deadLetter.url ? { deadLetterSinkUri: deadLetter.url } : {}),
      ...(delivery ? { delivery } : {}),
    };
    statuses.push({ resource, conditions, extra: { physicalSubscription } });
    if (failure || !runtime?.ready || !channelResource) continue;
    desired.push({
      uid: resource.metadata.uid,
      kind: resource.kind,
      namespace,
      name: resource.metadata.name,
      generation: resource.metadata.generation,
      channelKey: channelKey(namespace, spec.channel.name),
      adapterTarget: adapterTargetFor(resource, defaultMaxInFlight),
      target: {
        namespace,
        name: resource.metadata.name,
        subscriber: subscriber.url,
        reply: reply.url,
        delivery: toDeliveryOptions(delivery, deadLetter.url),
      },
    });
  }
  return { desired, statuses };
}
