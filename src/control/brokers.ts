import { parse as parseYaml } from "yaml";
import type { CloudEvent } from "../events/event.js";
import { withAttributes } from "../events/event.js";
import { BROKER_CLASS_ANNOTATION } from "../resources/eventing.js";
import { coreKinds, type BrokerResource } from "../resources/kinds.js";
import type { ResourceStore } from "./store.js";

/** Knative's broker TTL extension: hops left before a reply loop is cut off. */
export const TTL_ATTRIBUTE = "knativebrokerttl";
export const DEFAULT_TTL = 255;

export interface ChannelTemplate {
  apiVersion: string;
  kind: string;
  spec?: Record<string, unknown> | undefined;
}

/** The name of a Broker's backing channel, as Knative's channel-based broker names it. */
export function brokerChannelName(broker: string): string {
  return `${broker}-kne-trigger`;
}

/**
 * The channel a Broker runs on: from `spec.config` (a ConfigMap with `channel-template-spec`, as
 * Knative's MTChannelBasedBroker reads it), else from the broker class annotation, else the
 * default channel kind. Returns an error message when the configuration cannot be used.
 */
export function brokerChannelTemplate(
  store: ResourceStore,
  broker: BrokerResource,
  classes: ReadonlyMap<string, ChannelTemplate>,
  fallback: ChannelTemplate,
): ChannelTemplate | string {
  const { spec } = broker;
  if (spec.config) {
    if (spec.config.kind !== "ConfigMap")
      return `spec.config: kind ${spec.config.kind} is not supported (use a ConfigMap)`;
    const namespace = spec.config.namespace ?? broker.metadata.namespace;
    const configMap = store.get(coreKinds.configMap, namespace, spec.config.name);
    if (!configMap) return `ConfigMap ${namespace}/${spec.config.name} not found`;
    const text = configMap.spec["channel-template-spec"];
    if (!text) return `ConfigMap ${namespace}/${spec.config.name} has no channel-template-spec`;
    try {
      const template = parseYaml(text) as ChannelTemplate;
      if (!template?.apiVersion || !template.kind) return "channel-template-spec needs apiVersion and kind";
      return template;
    } catch (error) {
      return `channel-template-spec is not valid YAML: ${(error as Error).message}`;
    }
  }
  const brokerClass = broker.metadata.annotations?.[BROKER_CLASS_ANNOTATION];
  return (brokerClass && classes.get(brokerClass)) || fallback;
}

/** An event's hop count: its `knativebrokerttl` as an integer; undefined when absent or not an integer. */
function ttlOf(event: CloudEvent): number | undefined {
  if (!Object.hasOwn(event.attributes, TTL_ATTRIBUTE)) return undefined;
  const value = Number(event.attributes[TTL_ATTRIBUTE]);
  return Number.isInteger(value) ? value : undefined;
}

/**
 * Broker ingress: every event entering the broker carries a TTL (Knative sets 255 when absent). A
 * client cannot lengthen a reply loop: a TTL above 255, or one that is not an integer, becomes 255.
 */
export function withTtl(events: readonly CloudEvent[]): CloudEvent[] {
  return events.map((event) => {
    const ttl = ttlOf(event);
    return ttl !== undefined && ttl <= DEFAULT_TTL
      ? event
      : withAttributes(event, { [TTL_ATTRIBUTE]: DEFAULT_TTL });
  });
}

/**
 * Channel ingress: an event keeps the TTL it carries, if any, but never above 255, so the hop limit
 * of Subscription replies (`replyWithTtl`) holds whatever a client sends.
 */
export function limitTtl(events: readonly CloudEvent[]): readonly CloudEvent[] {
  let limited: CloudEvent[] | undefined;
  events.forEach((event, index) => {
    if (!Object.hasOwn(event.attributes, TTL_ATTRIBUTE)) return;
    const ttl = ttlOf(event);
    if (ttl !== undefined && ttl <= DEFAULT_TTL) return;
    limited ??= [...events];
    limited[index] = withAttributes(event, { [TTL_ATTRIBUTE]: DEFAULT_TTL });
  });
  return limited ?? events;
}

/**
 * A reply (from a Trigger's or a Subscription's subscriber) carries one hop less than the event that
 * caused it, counting from 255 when that event carried none; at zero it is dropped, which cuts off
 * reply loops through Brokers and Channels alike.
 */
export function replyWithTtl(reply: CloudEvent, original: CloudEvent): CloudEvent | undefined {
  const ttl = Math.min(ttlOf(original) ?? DEFAULT_TTL, DEFAULT_TTL) - 1;
  if (!(ttl > 0)) return undefined;
  return withAttributes(reply, { [TTL_ATTRIBUTE]: ttl });
}
