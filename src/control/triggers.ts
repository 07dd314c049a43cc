import type { CloudEvent } from "../events/event.js";
import { compileTriggerFilter } from "../filters/trigger-filter.js";
import type { DeliverySpec } from "../resources/common.js";
import type { TriggerSpec } from "../resources/eventing.js";
import { deliveryLimitsOf } from "../resources/delivery-annotations.js";
import { coreKinds, type TriggerResource } from "../resources/kinds.js";
import { brokerChannelName, isRabbitmqBroker, replyWithTtl } from "./brokers.js";
import { triggerConditions as conditions, type ConditionInput } from "./conditions.js";
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
import {
  adapterTargetFor,
  parallelismProblem,
  RABBITMQ_PARALLELISM_ANNOTATION,
  type DesiredSubscription,
  type SubscriptionStatusInput,
} from "./subscriptions.js";

/** Compiled Trigger filters by uid and generation: compiled once per generation, never per event. */
export class TriggerFilters {
  private readonly compiled = new Map<
    string,
    { generation: number; filter: (event: CloudEvent) => boolean }
  >();

  of(trigger: TriggerResource): (event: CloudEvent) => boolean {
    const cached = this.compiled.get(trigger.metadata.uid);
    if (cached && cached.generation === trigger.metadata.generation) return cached.filter;
    const filter = compileTriggerFilter(trigger.spec);
    this.compiled.set(trigger.metadata.uid, { generation: trigger.metadata.generation, filter });
    return filter;
  }

  /** Forgets the filters of Triggers that are gone. */
  keepOnly(uids: ReadonlySet<string>): void {
    for (const uid of this.compiled.keys()) if (!uids.has(uid)) this.compiled.delete(uid);
  }
}

function resolve(
  references: References,
  destination: TriggerSpec["subscriber"] | undefined,
  namespace: string,
) {
  if (!destination) return { url: undefined };
  try {
    return { url: resolveDestination(references, destination, namespace) };
  } catch (error) {
    if (!(error instanceof UnresolvableDestination)) throw error;
    return { url: undefined, message: error.message };
  }
}

/**
 * Each Trigger is a subscription to its Broker's channel with the Trigger's filter applied before
 * delivery; replies go back into the Broker with one hop less (Knative's channel-based broker).
 */
export function desiredTriggers(
  references: References & { readonly directory: ChannelDirectory; readonly filters: TriggerFilters },
  defaultMaxInFlight: number,
): { desired: DesiredSubscription[]; statuses: SubscriptionStatusInput[] } {
  const { store, directory, filters } = references;
  const desired: DesiredSubscription[] = [];
  const statuses: SubscriptionStatusInput[] = [];
  const live = new Set<string>();
  const { group } = coreKinds.trigger;
  for (const trigger of store.list(coreKinds.trigger)) {
    live.add(trigger.metadata.uid);
    const { spec } = trigger;
    const { namespace } = trigger.metadata;
    const found: ConditionInput[] = [];
    const broker = store.get(coreKinds.broker, namespace, spec.broker);
    const runtime = directory.atAddress(namespace, brokerChannelName(spec.broker));
    if (!broker) {
      found.push(
        conditions.markFalse(
          "BrokerReady",
          "BrokerDoesNotExist",
          `Broker ${namespace}/${spec.broker} not found`,
        ),
      );
    } else if (!runtime?.ready) {
      found.push(
        conditions.markFalse(
          "BrokerReady",
          "BrokerNotReady",
          `Broker ${namespace}/${spec.broker} is not ready${runtime?.message ? `: ${runtime.message}` : ""}`,
        ),
      );
    } else {
      found.push(conditions.markTrue("BrokerReady"));
    }
    const subscriber = resolve(references, spec.subscriber, namespace);
    found.push(
      subscriber.url
        ? conditions.markTrue("SubscriberResolved")
        : conditions.markFalse(
            "SubscriberResolved",
            "Unable to get the Subscriber's URI",
            subscriber.message,
          ),
    );
    // Knative: a Trigger's delivery overrides its Broker's.
    const delivery: DeliverySpec | undefined = spec.delivery ?? broker?.spec.delivery;
    const deadLetter = resolve(references, delivery?.deadLetterSink, namespace);
    if (delivery?.deadLetterSink) {
      found.push(
        deadLetter.url
          ? conditions.markTrue("DeadLetterSinkResolved")
          : conditions.markFalse(
              "DeadLetterSinkResolved",
              "Unable to get the dead letter sink's URI",
              deadLetter.message,
            ),
      );
    }
    // Not run rather than run with a parallelism other than the one asked for (a FIFO Trigger out of order).
    const parallelism = parallelismProblem(trigger.metadata.annotations);
    if (parallelism)
      found.push({
        type: "AnnotationsValid",
        status: "False",
        reason: "InvalidParallelism",
        message: `metadata.annotations[${RABBITMQ_PARALLELISM_ANNOTATION}]: ${parallelism}`,
      });
    const extra = {
      ...(subscriber.url ? { subscriberUri: subscriber.url } : {}),
      ...(deadLetter.url ? { deliveryStatus: { deadLetterSinkUri: deadLetter.url } } : {}),
      ...authStatusOf(references, trigger, group),
    };
    statuses.push({ resource: trigger, conditions: found, extra });
    const brokerAddress = broker?.status.address?.url;
    if (
      !broker ||
      !runtime ||
      !runtime.ready ||
      !subscriber.url ||
      parallelism ||
      (delivery?.deadLetterSink && !deadLetter.url)
    )
      continue;
    desired.push({
      uid: trigger.metadata.uid,
      kind: trigger.kind,
      namespace,
      name: trigger.metadata.name,
      generation: trigger.metadata.generation,
      channelKey: runtime.key,
      adapterTarget: adapterTargetFor(trigger, defaultMaxInFlight, isRabbitmqBroker(broker)),
      target: {
        ...deliveryLimitsOf(trigger.metadata.annotations),
        namespace,
        name: trigger.metadata.name,
        subscriber: subscriber.url,
        reply: brokerAddress,
        subscriberCACerts: destinationCACerts(spec.subscriber),
        // A Trigger sends as itself: to its subscriber, its dead-letter sink and, replies, its Broker.
        subscriberIdentity: identityFor(
          trigger,
          group,
          destinationAudience(references, spec.subscriber, namespace),
        ),
        replyIdentity: identityFor(trigger, group, broker.status.address?.audience),
        delivery: {
          ...toDeliveryOptions(delivery, deadLetter.url, destinationCACerts(delivery?.deadLetterSink)),
          deadLetterSinkIdentity: identityFor(
            trigger,
            group,
            destinationAudience(references, delivery?.deadLetterSink, namespace),
          ),
        },
        filter: filters.of(trigger),
        transformReply: replyWithTtl,
      },
    });
  }
  filters.keepOnly(live);
  return { desired, statuses };
}
