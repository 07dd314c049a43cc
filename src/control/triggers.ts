import type { CloudEvent } from "../events/event.js";
import { compileTriggerFilter } from "../filters/trigger-filter.js";
import type { DeliverySpec, Resource } from "../resources/common.js";
import type { TriggerSpec } from "../resources/eventing.js";
import { kindByName } from "../resources/kinds.js";
import { brokerChannelName, replyWithTtl } from "./brokers.js";
import { channelKey, type ChannelRuntime } from "./channels.js";
import type { ConditionInput } from "./conditions.js";
import { toDeliveryOptions } from "./delivery.js";
import { resolveDestination, UnresolvableDestination } from "./destinations.js";
import type { ResourceStore } from "./store.js";
import { adapterTargetFor, type DesiredSubscription, type SubscriptionStatusInput } from "./subscriptions.js";

/** Compiled filters by Trigger uid and generation: compiled once, never per event. */
const compiled = new Map<string, { generation: number; filter: (event: CloudEvent) => boolean }>();

function filterOf(trigger: Resource): (event: CloudEvent) => boolean {
  const cached = compiled.get(trigger.metadata.uid);
  if (cached && cached.generation === trigger.metadata.generation) return cached.filter;
  const filter = compileTriggerFilter(trigger.spec as TriggerSpec);
  compiled.set(trigger.metadata.uid, { generation: trigger.metadata.generation, filter });
  return filter;
}

function resolve(
  store: ResourceStore,
  destination: TriggerSpec["subscriber"] | undefined,
  namespace: string,
) {
  if (!destination) return { url: undefined };
  try {
    return { url: resolveDestination(store, destination, namespace) };
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
  store: ResourceStore,
  channelFor: (namespace: string, name: string) => ChannelRuntime | undefined,
  defaultMaxInFlight: number,
): { desired: DesiredSubscription[]; statuses: SubscriptionStatusInput[] } {
  const desired: DesiredSubscription[] = [];
  const statuses: SubscriptionStatusInput[] = [];
  const brokerDefinition = kindByName("Broker")!;
  const live = new Set<string>();
  for (const trigger of store.list(kindByName("Trigger")!)) {
    live.add(trigger.metadata.uid);
    const spec = trigger.spec as TriggerSpec;
    const { namespace } = trigger.metadata;
    const conditions: ConditionInput[] = [];
    const broker = store.get(brokerDefinition, namespace, spec.broker);
    const runtime = channelFor(namespace, brokerChannelName(spec.broker));
    if (!broker) {
      conditions.push({
        type: "BrokerReady",
        status: "False",
        reason: "BrokerDoesNotExist",
        message: `Broker ${namespace}/${spec.broker} not found`,
      });
    } else if (!runtime?.ready) {
      conditions.push({
        type: "BrokerReady",
        status: "False",
        reason: "BrokerNotReady",
        message: `Broker ${namespace}/${spec.broker} is not ready${runtime?.message ? `: ${runtime.message}` : ""}`,
      });
    } else {
      conditions.push({ type: "BrokerReady", status: "True" });
    }
    const subscriber = resolve(store, spec.subscriber, namespace);
    conditions.push(
      subscriber.url
        ? { type: "SubscriberResolved", status: "True" }
        : {
            type: "SubscriberResolved",
            status: "False",
            reason: "Unable to get the Subscriber's URI",
            message: subscriber.message,
          },
    );
    // Knative: a Trigger's delivery overrides its Broker's.
    const delivery = spec.delivery ?? (broker?.spec.delivery as DeliverySpec | undefined);
    const deadLetter = resolve(store, delivery?.deadLetterSink, namespace);
    if (delivery?.deadLetterSink) {
      conditions.push(
        deadLetter.url
          ? { type: "DeadLetterSinkResolved", status: "True" }
          : {
              type: "DeadLetterSinkResolved",
              status: "False",
              reason: "Unable to get the dead letter sink's URI",
              message: deadLetter.message,
            },
      );
    }
    const extra = {
      ...(subscriber.url ? { subscriberUri: subscriber.url } : {}),
      ...(deadLetter.url ? { deliveryStatus: { deadLetterSinkUri: deadLetter.url } } : {}),
    };
    statuses.push({ resource: trigger, conditions, extra });
    const brokerAddress = broker?.status.address?.url;
    if (!broker || !runtime?.ready || !subscriber.url || (delivery?.deadLetterSink && !deadLetter.url))
      continue;
    desired.push({
      uid: trigger.metadata.uid,
      kind: trigger.kind,
      namespace,
      name: trigger.metadata.name,
      generation: trigger.metadata.generation,
      channelKey: channelKey(namespace, brokerChannelName(spec.broker)),
      adapterTarget: adapterTargetFor(trigger, defaultMaxInFlight),
      target: {
        namespace,
        name: trigger.metadata.name,
        subscriber: subscriber.url,
        reply: brokerAddress,
        delivery: toDeliveryOptions(delivery, deadLetter.url),
        filter: filterOf(trigger),
        transformReply: replyWithTtl,
      },
    });
  }
  for (const uid of compiled.keys()) if (!live.has(uid)) compiled.delete(uid);
  return { desired, statuses };
}
