import type { Logger } from "pino";
import type { EventHandler, SubscriptionHandle } from "../../adapters/adapter.js";
import type { AdapterRegistry } from "../../adapters/registry.js";
import type { HeraldConfig } from "../config.js";
import { publicBaseUrl } from "../config.js";
import { createEventHandler } from "../dispatcher/dispatcher.js";
import type { SubscriberTarget } from "../dispatcher/delivery.js";
import { filteredOut } from "../dispatcher/metrics.js";
import type { Sender } from "../dispatcher/sender.js";
import type { Tracing } from "../tracing.js";
import type { CloudEvent } from "../events/event.js";
import type { Resource, ResourceStatus } from "../resources/common.js";
import { allKinds, kindByName, kindFor, type KindDefinition } from "../resources/kinds.js";
import { invalidResource, validateManifest, type Manifest, type Problem } from "../resources/validation.js";
import { HeraldError } from "../errors.js";
import { channelKey, ensureChannel, type ChannelRuntime } from "./channels.js";
import { conditionsFor, isReady, type ConditionInput } from "./conditions.js";
import { keyOf, type ResourceStore } from "./store.js";
import { desiredSubscriptions, type DesiredSubscription } from "./subscriptions.js";
import { desiredTriggers } from "./triggers.js";
import { brokerChannelName, brokerChannelTemplate, type ChannelTemplate } from "./brokers.js";
import { validateTriggerFilter } from "../filters/trigger-filter.js";
import type { TriggerSpec } from "../resources/eventing.js";
import { isDeepStrictEqual } from "node:util";
import { SourceManager } from "./sources.js";

interface SubscriptionRuntime {
  readonly desired: DesiredSubscription;
  handler: EventHandler;
  handle: SubscriptionHandle;
  targetJson: string;
}

export interface ControlPlaneOptions {
  config: HeraldConfig;
  logger: Logger;
  store: ResourceStore;
  adapters: Pick<AdapterRegistry, "get" | "values">;
  sender: Sender;
  tracing: Tracing;
}

/**
 * Turns the stored resources into running channels and subscriptions, and writes their status.
 * Every change (apply, delete, a periodic resync) runs one full, serialised reconcile pass: the
 * desired state is derived from the store each time, so a Subscription whose channel appears later
 * becomes Ready by itself, and a backend that was down is retried.
 */
export class ControlPlane {
  private readonly channels = new Map<string, ChannelRuntime>();
  private readonly subscriptions = new Map<string, SubscriptionRuntime>();
  private readonly shutdown = new AbortController();
  private queue: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private baseUrl: string;

  /** The workers of Source resources (PingSource, KafkaSource...). */
  readonly sources: SourceManager;

  constructor(private readonly options: ControlPlaneOptions) {
    this.baseUrl = publicBaseUrl(options.config);
    this.sources = new SourceManager({
      config: options.config,
      logger: options.logger,
      store: options.store,
      sender: options.sender,
      baseUrl: () => this.baseUrl,
      onStatusChange: () => void this.reconcile(),
    });
  }

  get store(): ResourceStore {
    return this.options.store;
  }

  /** The running channel behind an ingress address, if any. O(1): used per request. */
  channelFor(namespace: string, name: string): ChannelRuntime | undefined {
    return this.channels.get(channelKey(namespace, name));
  }

  /** The running trigger channel behind a Broker's ingress address, if any. */
  brokerFor(namespace: string, name: string): ChannelRuntime | undefined {
    return this.channels.get(channelKey(namespace, brokerChannelName(name)));
  }

  brokerAddress(namespace: string, name: string): string {
    return `${this.baseUrl}/brokers/${namespace}/${name}`;
  }

  channelAddress(namespace: string, name: string): string {
    return `${this.baseUrl}/channels/${namespace}/${name}`;
  }

  /** Starts reconciling now and every `resyncMs`; `baseUrl` is where addresses point (the bound port). */
  async start(baseUrl: string, resyncMs = 5_000): Promise<void> {
    this.baseUrl = baseUrl;
    await this.reconcile();
    this.timer = setInterval(() => void this.reconcile(), resyncMs);
    this.timer.unref();
  }

  /**
   * Validates everything first (nothing is half-applied), stores, then reconciles. Resolves with the
   * stored resources including the status of that reconcile.
   */
  async apply(manifests: readonly Manifest[]): Promise<Resource[]> {
    const problems = manifests.flatMap((manifest, index) =>
      this.crossCheck(manifest, manifests.length > 1 ? `[${index}]` : ""),
    );
    if (problems.length > 0) throw invalidResource(problems);
    const applied = await this.store.apply(manifests);
    await this.reconcile();
    return applied.map(
      (resource) =>
        this.store.get(definitionOf(resource), resource.metadata.namespace, resource.metadata.name) ??
        resource,
    );
  }

  async delete(definition: KindDefinition, namespace: string, name: string): Promise<Resource> {
    const deleted = await this.store.delete(definition, namespace, name);
    if (!deleted) throw new HeraldError("NotFound", `${definition.kind} ${namespace}/${name} not found`);
    await this.reconcile();
    return deleted;
  }

  /** Checks that need other kinds: a Channel's template kind and spec, a Subscription's channel kind. */
  private crossCheck(manifest: Manifest, prefix: string): Problem[] {
    const at = (path: string) => (prefix ? `${prefix}.${path}` : path);
    if (manifest.definition.role === "channel") {
      const template = this.templateOf(manifest.spec);
      const backing = kindFor(template.apiVersion, template.kind);
      if (!backing || backing.role !== "backing-channel") {
        return [
          {
            path: at("spec.channelTemplate.kind"),
            message: `${template.apiVersion} ${template.kind} is not a channel kind Herald runs`,
          },
        ];
      }
      const result = validateManifest(
        this.backingManifestInput(manifest.metadata, manifest.spec),
        at("spec.channelTemplate"),
      );
      // spec.delivery was checked with the Channel itself.
      return result.problems.filter((p) => !p.path.includes(".spec.delivery"));
    }
    if (manifest.definition.role === "trigger") {
      return validateTriggerFilter(manifest.spec as TriggerSpec).map((p) => ({
        path: at(p.path),
        message: p.message,
      }));
    }
    if (manifest.definition.role === "subscription") {
      const channel = manifest.spec.channel as { apiVersion: string; kind: string };
      const definition = kindFor(channel.apiVersion, channel.kind);
      if (!definition || (definition.role !== "channel" && definition.role !== "backing-channel")) {
        return [
          {
            path: at("spec.channel"),
            message: `${channel.apiVersion} ${channel.kind} is not a channel kind`,
          },
        ];
      }
    }
    return [];
  }

  private templateOf(spec: Record<string, unknown>): {
    apiVersion: string;
    kind: string;
    spec?: Record<string, unknown>;
  } {
    const template = spec.channelTemplate as
      { apiVersion: string; kind: string; spec?: Record<string, unknown> } | undefined;
    if (template) return template;
    const kind = this.options.config.defaultChannelKind;
    const definition = allKinds().find((d) => d.kind === kind && d.role === "backing-channel");
    return {
      apiVersion: definition ? `${definition.group}/${definition.versions[0]}` : "messaging.knative.dev/v1",
      kind,
    };
  }

  private backingManifestInput(
    metadata: { name: string; namespace: string },
    spec: Record<string, unknown>,
  ): unknown {
    const template = this.templateOf(spec);
    return {
      apiVersion: template.apiVersion,
      kind: template.kind,
      metadata: { name: metadata.name, namespace: metadata.namespace },
      spec: { ...(template.spec ?? {}), ...(spec.delivery ? { delivery: spec.delivery } : {}) },
    };
  }

  /** Runs one reconcile pass after the ones already queued. */
  reconcile(): Promise<void> {
    const pass = async () => {
      if (this.shutdown.signal.aborted) return;
      try {
        await this.materializeChannels();
        await this.syncChannels();
        this.reportOwners();
        await this.syncSubscriptions();
        await this.sources.sync((resource, status) => this.setStatus(resource, status));
        await this.store.flush();
      } catch (error) {
        this.options.logger.error({ err: error }, "reconcile failed");
      }
    };
    this.queue = this.queue.then(pass, pass);
    return this.queue;
  }

  /** The backing channel of each Channel and Broker: its name and template, or why there is none. */
  private backingRequests(): {
    owner: Resource;
    name: string;
    template: ChannelTemplate | string;
    delivery: unknown;
  }[] {
    const { store } = this;
    const requests = [];
    for (const channel of store.list(kindByName("Channel")!)) {
      requests.push({
        owner: channel,
        name: channel.metadata.name,
        template: this.templateOf(channel.spec),
        delivery: channel.spec.delivery,
      });
    }
    for (const broker of store.list(kindByName("Broker")!)) {
      const template = brokerChannelTemplate(store, broker, this.templateOf({}));
      requests.push({
        owner: broker,
        name: brokerChannelName(broker.metadata.name),
        template,
        delivery: undefined,
      });
    }
    return requests;
  }

  /**
   * Channel and Broker → their backing channel resource (owned by them), as Knative's channel and
   * channel-based broker controllers do. Backing channels whose owner is gone are deleted.
   */
  private async materializeChannels(): Promise<void> {
    const { store } = this;
    const owners = new Set<string>();
    for (const { owner, name, template, delivery } of this.backingRequests()) {
      owners.add(owner.metadata.uid);
      const conditionType = owner.kind === "Broker" ? "TriggerChannelReady" : "BackingChannelReady";
      let problem: ConditionInput | undefined;
      if (typeof template === "string") {
        problem = { type: conditionType, status: "False", reason: "ConfigInvalid", message: template };
      } else {
        const result = validateManifest({
          apiVersion: template.apiVersion,
          kind: template.kind,
          metadata: { name, namespace: owner.metadata.namespace },
          spec: { ...(template.spec ?? {}), ...(delivery ? { delivery } : {}) },
        });
        const manifest = result.manifest;
        const existing = manifest && store.get(manifest.definition, owner.metadata.namespace, name);
        if (!manifest || manifest.definition.role !== "backing-channel") {
          const message = manifest
            ? `${template.kind} is not a channel kind`
            : result.problems.map((p) => `${p.path}: ${p.message}`).join("; ");
          problem = { type: conditionType, status: "False", reason: "ChannelTemplateInvalid", message };
        } else if (existing && existing.metadata.ownerReferences?.[0]?.uid !== owner.metadata.uid) {
          problem = {
            type: conditionType,
            status: "False",
            reason: "BackingChannelConflict",
            message: `${existing.kind} ${owner.metadata.namespace}/${name} exists and is not owned by this ${owner.kind}`,
          };
        } else if (!existing || !isDeepStrictEqual(existing.spec, manifest.spec)) {
          await store.apply([manifest], owner);
        }
      }
      if (problem)
        this.setStatus(owner, {
          ...owner.status,
          conditions: conditionsFor(owner.status.conditions, [problem]),
        });
    }
    for (const definition of allKinds().filter((d) => d.role === "backing-channel")) {
      for (const backing of store.list(definition)) {
        const owner = backing.metadata.ownerReferences?.[0];
        if (owner && !owners.has(owner.uid ?? ""))
          await store.delete(definition, backing.metadata.namespace, backing.metadata.name);
      }
    }
  }

  private async syncChannels(): Promise<void> {
    const { store } = this;
    const seen = new Set<string>();
    for (const definition of allKinds().filter((d) => d.role === "backing-channel")) {
      for (const resource of store.list(definition)) {
        const key = channelKey(resource.metadata.namespace, resource.metadata.name);
        seen.add(key);
        const adapter = this.options.adapters.get(resource.kind);
        const previous = this.channels.get(key);
        if (previous && previous.uid !== resource.metadata.uid) await this.teardownChannel(previous);
        const address = { url: this.channelAddress(resource.metadata.namespace, resource.metadata.name) };
        if (!adapter) {
          this.setStatus(resource, {
            address,
            conditions: conditionsFor(resource.status.conditions, [
              { type: "Addressable", status: "True" },
              {
                type: "BackendReady",
                status: "False",
                reason: "BackendNotConfigured",
                message: `no adapter for ${resource.kind} is configured in this Herald`,
              },
            ]),
          });
          continue;
        }
        const runtime = await ensureChannel(resource, adapter, this.channels.get(key), this.options.logger);
        this.channels.set(key, runtime);
        this.setStatus(resource, {
          ...runtime.facts,
          address,
          conditions: conditionsFor(resource.status.conditions, [
            { type: "Addressable", status: "True" },
            runtime.ready
              ? { type: "BackendReady", status: "True" }
              : {
                  type: "BackendReady",
                  status: "False",
                  reason: "BackendUnavailable",
                  message: runtime.message,
                },
          ]),
        });
      }
    }
    for (const [key, runtime] of this.channels) {
      if (!seen.has(key)) await this.teardownChannel(runtime);
    }
  }

  private async teardownChannel(runtime: ChannelRuntime): Promise<void> {
    this.channels.delete(runtime.key);
    for (const [uid, subscription] of this.subscriptions) {
      if (subscription.desired.channelKey !== runtime.key) continue;
      this.subscriptions.delete(uid);
      await subscription.handle.close();
    }
    try {
      await runtime.adapter.deleteChannel(runtime.target);
    } catch (error) {
      this.options.logger.error(
        { channel: runtime.key, err: error },
        "deleting the channel's backend topology failed",
      );
    }
  }

  private async syncSubscriptions(): Promise<void> {
    const channelFor = (ns: string, name: string) => this.channels.get(channelKey(ns, name));
    const { maxInFlight } = this.options.config.dispatcher;
    const subscriptions = desiredSubscriptions(this.store, channelFor, maxInFlight);
    const triggers = desiredTriggers(this.store, channelFor, maxInFlight);
    const desired = [...subscriptions.desired, ...triggers.desired];
    const statuses = [...subscriptions.statuses, ...triggers.statuses];
    const wanted = new Set(desired.map((d) => d.uid));
    const liveUids = new Set(this.store.list().map((r) => r.metadata.uid));
    for (const [uid, runtime] of this.subscriptions) {
      if (wanted.has(uid)) continue;
      this.subscriptions.delete(uid);
      await runtime.handle.close();
      // Durable state goes only with the resource; a Subscription that is merely not ready keeps it.
      if (!liveUids.has(uid)) await this.deleteDurableSubscription(runtime.desired);
    }
    const added = new Map<string, string | undefined>();
    for (const desiredSubscription of desired) {
      added.set(desiredSubscription.uid, await this.runSubscription(desiredSubscription));
    }
    for (const { resource, conditions, extra } of statuses) {
      const failure = added.get(resource.metadata.uid);
      const addedCondition: ConditionInput = !added.has(resource.metadata.uid)
        ? {
            type: addedType(resource),
            status: "Unknown",
            reason: "NotReconciled",
            message: "waiting for the references above",
          }
        : failure
          ? { type: addedType(resource), status: "False", reason: "SubscribeFailed", message: failure }
          : { type: addedType(resource), status: "True" };
      this.setStatus(resource, {
        ...extra,
        conditions: conditionsFor(resource.status.conditions, [...conditions, addedCondition]),
      });
    }
    this.reportSubscribers();
  }

  private async deleteDurableSubscription(desired: DesiredSubscription): Promise<void> {
    const channel = this.channels.get(desired.channelKey);
    if (!channel) return;
    try {
      await channel.adapter.deleteSubscription(channel.target, desired.adapterTarget);
    } catch (error) {
      this.options.logger.error(
        { subscription: desired.name, err: error },
        "deleting the subscription's backend state failed",
      );
    }
  }

  /** Starts, updates in place, or restarts one subscription; resolves with an error message on failure. */
  private async runSubscription(desired: DesiredSubscription): Promise<string | undefined> {
    const channel = this.channels.get(desired.channelKey)!;
    const current = this.subscriptions.get(desired.uid);
    const targetJson = JSON.stringify(desired.target);
    const handlerFor = (target: SubscriberTarget) =>
      createEventHandler(target, {
        sender: this.options.sender,
        logger: this.options.logger,
        tracing: this.options.tracing,
        signal: this.shutdown.signal,
      });
    if (
      current &&
      current.desired.channelKey === desired.channelKey &&
      current.desired.adapterTarget.ordering === desired.adapterTarget.ordering &&
      current.desired.adapterTarget.maxInFlight === desired.adapterTarget.maxInFlight
    ) {
      // Same channel and consumption mode: swap the delivery target in place; events in flight finish
      // with the target they started with, the next ones use the new one. Nothing is lost.
      if (current.targetJson !== targetJson || current.desired.target.filter !== desired.target.filter) {
        current.handler = handlerFor(desired.target);
        current.targetJson = targetJson;
        (current as { desired: DesiredSubscription }).desired = desired;
      }
      return undefined;
    }
    if (current) {
      this.subscriptions.delete(desired.uid);
      await current.handle.close();
      if (current.desired.channelKey !== desired.channelKey)
        await this.deleteDurableSubscription(current.desired);
    }
    const runtime = { desired, handler: handlerFor(desired.target), targetJson } as SubscriptionRuntime;
    try {
      // The filter is read through the runtime, so an in-place update (above) applies to it too.
      const filteredCounter = filteredOut.labels({ namespace: desired.namespace, name: desired.name });
      const accepts = desired.target.filter
        ? (event: CloudEvent) => {
            const wanted = runtime.desired.target.filter?.(event) ?? true;
            if (!wanted) filteredCounter.inc();
            return wanted;
          }
        : undefined;
      runtime.handle = await channel.adapter.subscribe(
        channel.target,
        { ...desired.adapterTarget, accepts },
        (event, context) => runtime.handler(event, context),
      );
      this.subscriptions.set(desired.uid, runtime);
      return undefined;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.options.logger.warn(
        { subscription: `${desired.namespace}/${desired.name}`, err: message },
        "subscribe failed",
      );
      return message;
    }
  }

  /** Channel status.subscribers, as Knative's SubscribableStatus reports them. */
  private reportSubscribers(): void {
    for (const definition of allKinds().filter((d) => d.role === "backing-channel" || d.role === "channel")) {
      for (const resource of this.store.list(definition)) {
        const key = channelKey(resource.metadata.namespace, resource.metadata.name);
        const subscribers = [...this.subscriptions.values()]
          .filter((s) => s.desired.channelKey === key && s.desired.kind === "Subscription")
          .map((s) => ({ uid: s.desired.uid, observedGeneration: s.desired.generation, ready: "True" }))
          .sort((a, b) => a.uid.localeCompare(b.uid));
        this.setStatus(resource, { ...resource.status, subscribers });
      }
    }
  }

  /** Channels and Brokers take their address and readiness from their backing channel. */
  private reportOwners(): void {
    this.reportBrokers();
    for (const channel of this.store.list(kindByName("Channel")!)) {
      const status: ResourceStatus = { ...channel.status };
      this.completeChannelStatus(channel, status);
      this.setStatus(channel, status);
    }
  }

  /** A Broker's address is its ingress; it is ready when its trigger channel is. */
  private reportBrokers(): void {
    for (const broker of this.store.list(kindByName("Broker")!)) {
      const template = brokerChannelTemplate(this.store, broker, this.templateOf({}));
      if (typeof template === "string") continue;
      const definition = kindFor(template.apiVersion, template.kind);
      const name = brokerChannelName(broker.metadata.name);
      const backing = definition && this.store.get(definition, broker.metadata.namespace, name);
      if (!backing || backing.metadata.ownerReferences?.[0]?.uid !== broker.metadata.uid) continue;
      const backingReady = isReady(backing.status.conditions);
      const reason = backing.status.conditions?.find((c) => c.type === "Ready");
      const url = this.brokerAddress(broker.metadata.namespace, broker.metadata.name);
      this.setStatus(broker, {
        address: { name: "http", url },
        addresses: [{ name: "http", url }],
        channel: { apiVersion: backing.apiVersion, kind: backing.kind, name },
        conditions: conditionsFor(broker.status.conditions, [
          { type: "Addressable", status: "True" },
          backingReady
            ? { type: "TriggerChannelReady", status: "True" }
            : {
                type: "TriggerChannelReady",
                status: "False",
                reason: reason?.reason ?? "ChannelNotReady",
                message: reason?.message,
              },
        ]),
      });
    }
  }

  /** A Channel mirrors its backing channel: address, readiness and a reference to it. */
  private completeChannelStatus(channel: Resource, status: ResourceStatus): void {
    const template = this.templateOf(channel.spec);
    const definition = kindFor(template.apiVersion, template.kind);
    const backing =
      definition && this.store.get(definition, channel.metadata.namespace, channel.metadata.name);
    if (!backing || backing.metadata.ownerReferences?.[0]?.uid !== channel.metadata.uid) return;
    status.channel = { apiVersion: backing.apiVersion, kind: backing.kind, name: backing.metadata.name };
    if (backing.status.address) status.address = backing.status.address;
    const backingReady = isReady(backing.status.conditions);
    const reason = backing.status.conditions?.find((c) => c.type === "Ready");
    status.conditions = conditionsFor(channel.status.conditions, [
      {
        type: "Addressable",
        status: backing.status.address ? "True" : "False",
        reason: backing.status.address ? undefined : "NoAddress",
      },
      backingReady
        ? { type: "BackingChannelReady", status: "True" }
        : {
            type: "BackingChannelReady",
            status: "False",
            reason: reason?.reason ?? "BackingChannelNotReady",
            message: reason?.message,
          },
    ]);
  }

  private setStatus(resource: Resource, status: ResourceStatus): void {
    this.store.setStatus(resource, { ...status, observedGeneration: resource.metadata.generation });
  }

  /**
   * Graceful shutdown: stops reconciling, aborts retry waits (their events are handed back to the
   * backend for redelivery), closes every subscription, then every adapter.
   */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.queue;
    this.shutdown.abort();
    await this.sources.close();
    await Promise.all([...this.subscriptions.values()].map((s) => s.handle.close().catch(() => undefined)));
    this.subscriptions.clear();
    await Promise.all([...this.options.adapters.values()].map((a) => a.close().catch(() => undefined)));
  }
}

/** Knative's name for "consuming from the channel": AddedToChannel (Subscription), SubscriptionReady (Trigger). */
function addedType(resource: Resource): string {
  return resource.kind === "Trigger" ? "SubscriptionReady" : "AddedToChannel";
}

function definitionOf(resource: Resource): KindDefinition {
  return kindFor(resource.apiVersion, resource.kind)!;
}

export { keyOf };
