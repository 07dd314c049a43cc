import type { SubscriptionTarget } from "../../adapters/adapter.js";
import type { SubscriberTarget } from "../dispatcher/delivery.js";
import type { DeliverySpec, Destination, Resource } from "../resources/common.js";
import { deliveryLimitsOf } from "../resources/delivery-annotations.js";
import { coreKinds } from "../resources/kinds.js";
import { replyWithTtl } from "./brokers.js";
import { subscriptionConditions as conditions, type ConditionInput } from "./conditions.js";
import { toDeliveryOptions } from "./delivery.js";
import {
  authStatusOf,
  destinationAudience,
  destinationCACerts,
  identityFor,
  resolveDestination,
  UnresolvableDestination,
  type References,
} from "./destinations.js";
import type { ChannelDirectory } from "./directory.js";

/** Knative's annotation choosing ordered or unordered delivery (KafkaChannel, Kafka Broker). */
export const DELIVERY_ORDER_ANNOTATION = "kafka.eventing.knative.dev/delivery.order";
/** Herald's annotation bounding concurrent deliveries of one subscription in unordered mode. */
export const MAX_IN_FLIGHT_ANNOTATION = "herald.dev/max-in-flight";
/**
 * eventing-rabbitmq's Trigger annotation: how many events are delivered at once, 1 to 1000; 1 keeps
 * the order in which they entered (a FIFO Trigger).
 */
export const RABBITMQ_PARALLELISM_ANNOTATION = "rabbitmq.eventing.knative.dev/parallelism";

/** The problem with a Trigger's parallelism annotation, or undefined when it is absent or valid. */
export function parallelismProblem(annotations: Record<string, string> | undefined): string | undefined {
  const value = annotations?.[RABBITMQ_PARALLELISM_ANNOTATION];
  if (value === undefined) return undefined;
  const parallelism = Number(value);
  return /^\d+$/.test(value) && parallelism >= 1 && parallelism <= 1000
    ? undefined
    : `must be an integer from 1 to 1000 (1 delivers in order), not "${value}"`;
}

/** One consumer of a channel, derived from a Subscription or a Trigger. */
export interface DesiredSubscription {
  readonly uid: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly generation: number;
  /** The running channel's key (kind/namespace/name). */
  readonly channelKey: string;
  readonly adapterTarget: SubscriptionTarget;
  readonly target: SubscriberTarget;
}

export interface SubscriptionStatusInput {
  resource: Resource<string, unknown>;
  conditions: ConditionInput[];
  extra: Record<string, unknown>;
}

export function adapterTargetFor(
  resource: Resource<string, unknown>,
  defaultMaxInFlight: number,
  /** Ordered unless an annotation says otherwise (a Trigger of a RabbitMQ Broker, FIFO by default). */
  orderedByDefault = false,
): SubscriptionTarget {
  const annotations = resource.metadata.annotations ?? {};
  const { namespace, name, uid } = resource.metadata;
  const parallelism = annotations[RABBITMQ_PARALLELISM_ANNOTATION];
  if (parallelism !== undefined && !parallelismProblem(annotations)) {
    const count = Number(parallelism);
    return count === 1
      ? { namespace, name, uid, ordering: "ordered", maxInFlight: 1 }
      : { namespace, name, uid, ordering: "unordered", maxInFlight: count };
  }
  const order = annotations[DELIVERY_ORDER_ANNOTATION];
  const ordering = order === "ordered" || (order === undefined && orderedByDefault) ? "ordered" : "unordered";
  const requested = Number(annotations[MAX_IN_FLIGHT_ANNOTATION]);
  const maxInFlight =
    ordering === "ordered"
      ? 1
      : Number.isInteger(requested) && requested > 0
        ? requested
        : defaultMaxInFlight;
  return { namespace, name, uid, ordering, maxInFlight };
}

type Resolved = { url?: string | undefined; failure?: ConditionInput | undefined };

function resolveOptional(
  references: References,
  destination: Destination | undefined,
  namespace: string,
  reason: string,
): Resolved {
  if (!destination) return {};
  try {
    return { url: resolveDestination(references, destination, namespace) };
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
  references: References & { readonly directory: ChannelDirectory },
  defaultMaxInFlight = 100,
): { desired: DesiredSubscription[]; statuses: SubscriptionStatusInput[] } {
  const { store, kinds, directory } = references;
  const desired: DesiredSubscription[] = [];
  const statuses: SubscriptionStatusInput[] = [];
  const { group } = coreKinds.subscription;
  for (const resource of store.list(coreKinds.subscription)) {
    const { spec } = resource;
    const { namespace } = resource.metadata;
    const found: ConditionInput[] = [];
    const channelDefinition = kinds.find(spec.channel.apiVersion, spec.channel.kind);
    const channelResource = channelDefinition && store.get(channelDefinition, namespace, spec.channel.name);
    const held = directory.atAddress(namespace, spec.channel.name);
    // A Subscription to a backing kind consumes only that kind's channel, not another at the address.
    const runtime =
      channelDefinition?.role === "backing-channel" && held?.kind !== channelDefinition.kind
        ? undefined
        : held;
    const what = `${spec.channel.kind} ${namespace}/${spec.channel.name}`;
    if (!channelResource) {
      found.push(conditions.markFalse("ChannelReady", "ChannelNotFound", `${what} not found`));
    } else if (!runtime || !runtime.ready) {
      found.push(
        conditions.markFalse(
          "ChannelReady",
          "ChannelNotReady",
          `${what} is not ready${runtime?.message ? `: ${runtime.message}` : ""}`,
        ),
      );
    } else {
      found.push(conditions.markTrue("ChannelReady"));
    }
    const subscriber = resolveOptional(references, spec.subscriber, namespace, "SubscriberResolveFailed");
    const reply = resolveOptional(references, spec.reply, namespace, "ReplyResolveFailed");
    // Knative: a Subscription's delivery overrides its channel's.
    const delivery = spec.delivery ?? (channelResource?.spec.delivery as DeliverySpec | undefined);
    const deadLetter = resolveOptional(
      references,
      delivery?.deadLetterSink,
      namespace,
      "DeadLetterSinkResolveFailed",
    );
    const failure = subscriber.failure ?? reply.failure ?? deadLetter.failure;
    found.push(failure ?? conditions.markTrue("ReferencesResolved"));
    const physicalSubscription = {
      ...(subscriber.url ? { subscriberUri: subscriber.url } : {}),
      ...(reply.url ? { replyUri: reply.url } : {}),
      ...(deadLetter.url ? { deadLetterSinkUri: deadLetter.url } : {}),
      ...(delivery ? { delivery } : {}),
    };
    statuses.push({
      resource,
      conditions: found,
      extra: { physicalSubscription, ...authStatusOf(references, resource, group) },
    });
    if (failure || !runtime?.ready || !channelResource) continue;
    desired.push({
      uid: resource.metadata.uid,
      kind: resource.kind,
      namespace,
      name: resource.metadata.name,
      generation: resource.metadata.generation,
      channelKey: runtime.key,
      adapterTarget: adapterTargetFor(resource, defaultMaxInFlight),
      target: {
        ...deliveryLimitsOf(resource.metadata.annotations),
        namespace,
        name: resource.metadata.name,
        subscriber: subscriber.url,
        reply: reply.url,
        subscriberCACerts: destinationCACerts(spec.subscriber),
        replyCACerts: destinationCACerts(spec.reply),
        subscriberIdentity: identityFor(
          resource,
          group,
          destinationAudience(references, spec.subscriber, namespace),
        ),
        replyIdentity: identityFor(resource, group, destinationAudience(references, spec.reply, namespace)),
        delivery: {
          ...toDeliveryOptions(delivery, deadLetter.url, destinationCACerts(delivery?.deadLetterSink)),
          deadLetterSinkIdentity: identityFor(
            resource,
            group,
            destinationAudience(references, delivery?.deadLetterSink, namespace),
          ),
        },
        // The same hop limit as a Trigger's replies: a reply loop through Channels ends too.
        transformReply: replyWithTtl,
      },
    });
  }
  return { desired, statuses };
}
