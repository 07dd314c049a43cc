import { isDeepStrictEqual } from "node:util";
import { validateTriggerFilter } from "../filters/trigger-filter.js";
import type { ChannelSpec } from "../resources/messaging.js";
import { deliveryAnnotationProblems } from "../resources/delivery-annotations.js";
import { BROKER_CLASS_ANNOTATION } from "../resources/eventing.js";
import { apiVersionOf, coreKinds, type KindDefinition, type KindRegistry } from "../resources/kinds.js";
import {
  invalidResource,
  specOf,
  validateManifest,
  type Manifest,
  type Problem,
} from "../resources/validation.js";
import type { ChannelTemplate } from "./brokers.js";
import type { SelfAddresses } from "./self-addresses.js";
import type { ResourceStore } from "./store.js";

/**
 * The fields that hold a Knative Destination, at any depth of a spec (`filter`: a Parallel branch's;
 * a Trigger's `filter` holds attributes, not a destination). A Sequence's `steps` hold one each.
 */
const DESTINATION_FIELDS = new Set(["subscriber", "reply", "deadLetterSink", "sink", "filter"]);
const DESTINATION_LISTS = new Set(["steps"]);

function isDestination(value: unknown): value is { uri?: unknown; ref?: { name?: unknown } } {
  return (
    typeof value === "object" &&
    value !== null &&
    (typeof (value as { uri?: unknown }).uri === "string" ||
      typeof (value as { ref?: unknown }).ref === "object")
  );
}

/**
 * Admission, as Knative's webhooks do it: defaults set once when a resource is applied (a Channel's
 * channelTemplate), checks that need other kinds (a template's kind and spec, a Subscription's
 * channel kind, a Trigger's filters) and immutable fields (a Channel's channelTemplate, a
 * Subscription's channel, a Trigger's broker, a Broker's class), and destinations that would
 * reach Herald's own resource API (an event delivered there would be an API call).
 */
export class Admission {
  constructor(
    private readonly kinds: KindRegistry,
    private readonly store: ResourceStore,
    private readonly defaultChannelKind: string,
    /** Herald's own listeners, once they are bound. */
    private readonly self: () => SelfAddresses | undefined = () => undefined,
  ) {}

  /** The template a Channel without one gets (Knative's default-ch-webhook). */
  defaultTemplate(): ChannelTemplate {
    const definition = this.kinds.backingChannel(this.defaultChannelKind);
    return {
      apiVersion: definition ? apiVersionOf(definition) : "messaging.knative.dev/v1",
      kind: this.defaultChannelKind,
    };
  }

  /** A stored Channel's template; one stored before defaulting existed gets today's default. */
  templateOf(spec: ChannelSpec): ChannelTemplate {
    return spec.channelTemplate ?? this.defaultTemplate();
  }

  /** Defaults and checks every manifest; all or nothing, every problem with its path. */
  admit(manifests: readonly Manifest[]): Manifest[] {
    const problems: Problem[] = [];
    const admitted = manifests.map((manifest, index) => {
      const prefix = manifests.length > 1 ? `[${index}]` : "";
      const at = (path: string) => (prefix ? `${prefix}.${path}` : path);
      const defaulted = this.defaulted(manifest);
      problems.push(
        ...this.check(defaulted, at),
        ...this.immutable(defaulted, at),
        ...this.selfDestinations(defaulted, at),
        ...(specOf(defaulted, coreKinds.subscription) || specOf(defaulted, coreKinds.trigger)
          ? deliveryAnnotationProblems(defaulted.metadata.annotations, at)
          : []),
      );
      return defaulted;
    });
    if (problems.length > 0) throw invalidResource(problems);
    return admitted;
  }

  private defaulted(manifest: Manifest): Manifest {
    // Knative's defaulting webhooks give a Channel, a Sequence and a Parallel the default channel
    // template when they have none.
    const spec =
      specOf(manifest, coreKinds.channel) ??
      specOf(manifest, coreKinds.sequence) ??
      specOf(manifest, coreKinds.parallel);
    if (!spec || spec.channelTemplate) return manifest;
    return { ...manifest, spec: { ...spec, channelTemplate: this.defaultTemplate() } };
  }

  private check(manifest: Manifest, at: (path: string) => string): Problem[] {
    const channel = specOf(manifest, coreKinds.channel);
    if (channel) {
      const template = this.templateOf(channel);
      const backing = this.kinds.find(template.apiVersion, template.kind);
      if (!backing || backing.role !== "backing-channel") {
        return [
          {
            path: at("spec.channelTemplate.kind"),
            message: `${template.apiVersion} ${template.kind} is not a channel kind Herald runs`,
          },
        ];
      }
      const result = validateManifest(
        this.kinds,
        {
          apiVersion: template.apiVersion,
          kind: template.kind,
          metadata: { name: manifest.metadata.name, namespace: manifest.metadata.namespace },
          spec: template.spec ?? {},
        },
        at("spec.channelTemplate"),
      );
      return result.problems;
    }
    const trigger = specOf(manifest, coreKinds.trigger);
    if (trigger) return validateTriggerFilter(trigger).map((p) => ({ path: at(p.path), message: p.message }));
    const policy = specOf(manifest, coreKinds.eventPolicy);
    if (policy)
      return validateTriggerFilter({ filters: policy.filters }).map((p) => ({
        path: at(p.path),
        message: p.message,
      }));
    const subscription = specOf(manifest, coreKinds.subscription);
    if (subscription) {
      const { channel: ref } = subscription;
      const definition = this.kinds.find(ref.apiVersion, ref.kind);
      if (!definition || (definition.role !== "channel" && definition.role !== "backing-channel"))
        return [{ path: at("spec.channel"), message: `${ref.apiVersion} ${ref.kind} is not a channel kind` }];
    }
    return [];
  }

  /**
   * Destinations (subscriber, reply, dead-letter sink, source sink) that would reach Herald's own
   * resource API. A `uri` is compared with Herald's listeners and public URL; a `ref` resolves to
   * a channel's or broker's ingress address, so only its relative `uri` is checked, resolved
   * against such an address.
   */
  private selfDestinations(manifest: Manifest, at: (path: string) => string): Problem[] {
    const self = this.self();
    if (!self) return [];
    const problems: Problem[] = [];
    const check = (
      destination: { uri?: unknown; ref?: { apiVersion?: unknown; kind?: unknown; name?: unknown } },
      path: string,
    ) => {
      if (typeof destination.uri !== "string") return;
      const { ref } = destination;
      // A ref to a kind Herald does not run resolves through a SinkMapping (checked when it is
      // applied) or the service URL rule (Herald's own configuration), not to Herald's ingress.
      const target = ref && this.kinds.find(String(ref.apiVersion), String(ref.kind));
      if (ref && (!target || target.role === "config")) return;
      const base = ref
        ? `${self.baseUrl}/channels/${manifest.metadata.namespace}/${String(ref.name)}`
        : undefined;
      if (!URL.canParse(destination.uri, base)) return;
      const url = new URL(destination.uri, base);
      if (!self.reachesApi(url)) return;
      problems.push({
        path: at(`${path}.uri`),
        message:
          `${url.origin}${url.pathname} is this Herald's own resource API: events sent there would become ` +
          "API calls. Address a Channel or Broker (its /channels/… or /brokers/… URL, or a ref) or another service",
      });
    };
    const visit = (value: unknown, path: string): void => {
      if (Array.isArray(value)) {
        value.forEach((item, index) => visit(item, `${path}[${index}]`));
        return;
      }
      if (!value || typeof value !== "object") return;
      for (const [key, child] of Object.entries(value)) {
        if (DESTINATION_FIELDS.has(key) && isDestination(child)) check(child, `${path}.${key}`);
        else if (DESTINATION_LISTS.has(key) && Array.isArray(child))
          child.forEach((item: unknown, index) => {
            if (isDestination(item)) check(item, `${path}.${key}[${index}]`);
            visit(item, `${path}.${key}[${index}]`);
          });
        else visit(child, `${path}.${key}`);
      }
    };
    const mapping = specOf(manifest, coreKinds.sinkMapping);
    if (mapping) check({ uri: mapping.uri }, "spec");
    else visit(manifest.spec, "spec");
    return problems;
  }

  private immutable(manifest: Manifest, at: (path: string) => string): Problem[] {
    const { metadata } = manifest;
    const changed = (path: string, before: unknown, after: unknown): Problem[] =>
      isDeepStrictEqual(before, after)
        ? []
        : [
            {
              path: at(path),
              message: `is immutable (was ${JSON.stringify(before ?? null)}); delete the ${manifest.kind} and apply it again to change it`,
            },
          ];
    const stored = <Spec, Kind extends string>(definition: KindDefinition<Spec, Kind>) =>
      this.store.get(definition, metadata.namespace, metadata.name);
    const { immutableFields } = manifest.definition;
    const existing = immutableFields && stored(manifest.definition);
    if (immutableFields && existing)
      return immutableFields.flatMap((field) =>
        changed(`spec.${field}`, existing.spec[field], manifest.spec[field]),
      );
    const channel = specOf(manifest, coreKinds.channel);
    const existingChannel = channel && stored(coreKinds.channel);
    if (channel && existingChannel)
      return changed("spec.channelTemplate", this.templateOf(existingChannel.spec), channel.channelTemplate);
    const subscription = specOf(manifest, coreKinds.subscription);
    const existingSubscription = subscription && stored(coreKinds.subscription);
    if (subscription && existingSubscription)
      return changed("spec.channel", existingSubscription.spec.channel, subscription.channel);
    const trigger = specOf(manifest, coreKinds.trigger);
    const existingTrigger = trigger && stored(coreKinds.trigger);
    if (trigger && existingTrigger)
      return changed("spec.broker", existingTrigger.spec.broker, trigger.broker);
    const existingBroker = specOf(manifest, coreKinds.broker) && stored(coreKinds.broker);
    if (existingBroker)
      return changed(
        `metadata.annotations["${BROKER_CLASS_ANNOTATION}"]`,
        existingBroker.metadata.annotations?.[BROKER_CLASS_ANNOTATION],
        metadata.annotations?.[BROKER_CLASS_ANNOTATION],
      );
    return [];
  }
}
