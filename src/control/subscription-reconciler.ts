import type { Logger } from "pino";
import type { EventHandler, SubscriptionHandle, SubscriptionTarget } from "../../adapters/adapter.js";
import { createEventHandler } from "../dispatcher/dispatcher.js";
import type { SubscriberTarget } from "../dispatcher/delivery.js";
import type { Sender } from "../dispatcher/sender.js";
import type { CloudEvent } from "../events/event.js";
import type { Metrics } from "../metrics.js";
import type { Resource } from "../resources/common.js";
import type { KindRegistry } from "../resources/kinds.js";
import type { Tracing } from "../tracing.js";
import {
  subscriptionConditions,
  triggerConditions,
  type ConditionInput,
  type ConditionSet,
} from "./conditions.js";
import { addressKey, type ChannelDirectory, type ChannelRuntime } from "./directory.js";
import type { StatusWriter } from "./status.js";
import type { ResourceStore } from "./store.js";
import { desiredSubscriptions, type DesiredSubscription } from "./subscriptions.js";
import { desiredTriggers, TriggerFilters } from "./triggers.js";

interface SubscriptionRuntime {
  desired: DesiredSubscription;
  handler: EventHandler;
  handle: SubscriptionHandle;
  targetJson: string;
  /**
   * Aborted when the consumer stops (unsubscribe, re-subscribe, shutdown): its handlers' retry waits
   * and sends end at once and their events go back to the backend, so closing never waits out a
   * backoff.
   */
  readonly stopping: AbortController;
}

export interface SubscriptionReconcilerDeps {
  readonly kinds: KindRegistry;
  readonly store: ResourceStore;
  readonly directory: ChannelDirectory;
  readonly status: StatusWriter;
  readonly logger: Logger;
  readonly sender: Sender;
  readonly tracing: Tracing;
  readonly metrics: Metrics;
  readonly maxInFlight: number;
  /** The URL of a Service a destination references (see References). */
  readonly serviceUrlTemplate: string;
  /** Knative's authentication-oidc: Subscriptions and Triggers show `status.auth`. */
  readonly authenticationOidc?: boolean | undefined;
  /** Aborted at shutdown: retry waits stop and events go back to their backend. */
  readonly signal: AbortSignal;
  /** Replay (control/replay.ts): told when a consumer starts, and what its status shows. */
  readonly replays?: ConsumerReplays | undefined;
}

/** What the replay service needs from consumers as they start, and adds to their status. */
export interface ConsumerReplays {
  started(desired: DesiredSubscription, channel: ChannelRuntime): Promise<void>;
  statusOf(uid: string, channel: ChannelRuntime | undefined): Record<string, unknown>;
}

/**
 * Subscriptions and Triggers (Knative's subscription and trigger controllers): each becomes a
 * consumer of its channel whose handler is the dispatcher. A change of subscriber, reply, delivery
 * or filter is swapped in place (nothing in flight is lost); a change of channel or consumption mode
 * re-subscribes. Durable state (queue, consumer group) goes only with the resource.
 */
export class SubscriptionReconciler {
  private readonly runtimes = new Map<string, SubscriptionRuntime>();
  private readonly filters = new TriggerFilters();

  constructor(private readonly deps: SubscriptionReconcilerDeps) {}

  async reconcile(): Promise<void> {
    const { deps } = this;
    const references = { ...deps, filters: this.filters };
    const subscriptions = desiredSubscriptions(references, deps.maxInFlight);
    const triggers = desiredTriggers(references, deps.maxInFlight);
    const desired = [...subscriptions.desired, ...triggers.desired];
    const wanted = new Set(desired.map((d) => d.uid));
    const live = new Set(deps.store.list().map((r) => r.metadata.uid));
    for (const [uid, runtime] of this.runtimes) {
      if (wanted.has(uid)) continue;
      this.runtimes.delete(uid);
      await stop(runtime);
      // Durable state goes only with the resource; a Subscription that is merely not ready keeps it.
      if (!live.has(uid)) await this.forget(runtime.desired);
    }
    const results = new Map<string, string | undefined>();
    for (const one of desired) results.set(one.uid, await this.run(one));
    for (const { resource, conditions, extra } of [...subscriptions.statuses, ...triggers.statuses]) {
      const running = this.runtimes.get(resource.metadata.uid);
      const channel = running && deps.directory.get(running.desired.channelKey);
      deps.status.set(resource, {
        ...extra,
        ...deps.replays?.statusOf(resource.metadata.uid, channel),
        conditions: deps.status.conditions(resource, [...conditions, this.added(resource, results)]),
      });
    }
    this.reportSubscribers();
  }

  /** The channel and backend target of a running Subscription or Trigger, by uid (for a replay). */
  consumerOf(uid: string): { channel: ChannelRuntime; target: SubscriptionTarget } | undefined {
    const runtime = this.runtimes.get(uid);
    const channel = runtime && this.deps.directory.get(runtime.desired.channelKey);
    return channel && { channel, target: runtime.desired.adapterTarget };
  }

  /** Closes the consumers of a channel about to be torn down. */
  async closeOn(channel: ChannelRuntime): Promise<void> {
    for (const [uid, runtime] of this.runtimes) {
      if (runtime.desired.channelKey !== channel.key) continue;
      this.runtimes.delete(uid);
      await stop(runtime);
    }
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.runtimes.values()].map((runtime) =>
        stop(runtime).catch((error: unknown) =>
          this.deps.logger.warn(
            { err: error, subscription: nameOf(runtime.desired) },
            "closing a consumer failed",
          ),
        ),
      ),
    );
    this.runtimes.clear();
  }

  /** Knative's "consuming from the channel": AddedToChannel (Subscription), SubscriptionReady (Trigger). */
  private added(
    resource: Resource<string, unknown>,
    results: ReadonlyMap<string, string | undefined>,
  ): ConditionInput {
    const { uid } = resource.metadata;
    return resource.kind === "Trigger"
      ? addedCondition(triggerConditions, "SubscriptionReady", uid, results)
      : addedCondition(subscriptionConditions, "AddedToChannel", uid, results);
  }

  /** Starts, updates in place, or restarts one consumer; resolves with an error message on failure. */
  private async run(desired: DesiredSubscription): Promise<string | undefined> {
    const channel = this.deps.directory.get(desired.channelKey);
    if (!channel) return "the channel is not running";
    const current = this.runtimes.get(desired.uid);
    const targetJson = JSON.stringify(desired.target);
    if (
      current &&
      current.desired.channelKey === desired.channelKey &&
      current.desired.adapterTarget.ordering === desired.adapterTarget.ordering &&
      current.desired.adapterTarget.maxInFlight === desired.adapterTarget.maxInFlight
    ) {
      // Same channel and consumption mode: swap the delivery target in place; events in flight finish
      // with the target they started with, the next ones use the new one. Nothing is lost.
      if (current.targetJson !== targetJson || current.desired.target.filter !== desired.target.filter) {
        current.handler = this.handlerFor(desired.target, current.stopping.signal);
        current.targetJson = targetJson;
        current.desired = desired;
      }
      return undefined;
    }
    if (current) {
      this.runtimes.delete(desired.uid);
      await stop(current);
      if (current.desired.channelKey !== desired.channelKey) await this.forget(current.desired);
    }
    const stopping = new AbortController();
    try {
      const handler = this.handlerFor(desired.target, stopping.signal);
      const filteredOut = this.deps.metrics.filteredOut.labels({
        namespace: desired.namespace,
        name: desired.name,
      });
      // Handler and filter are read through the runtime, so an in-place update (above) applies to
      // them too; a backend may deliver before `subscribe` resolved, with the first ones.
      const current: { runtime?: SubscriptionRuntime } = {};
      const accepts = desired.target.filter
        ? (event: CloudEvent) => {
            const wanted = (current.runtime?.desired ?? desired).target.filter?.(event) ?? true;
            if (!wanted) filteredOut.inc();
            return wanted;
          }
        : undefined;
      const handle = await channel.adapter.subscribe(
        channel.target,
        { ...desired.adapterTarget, accepts },
        (event, context) => (current.runtime?.handler ?? handler)(event, context),
      );
      current.runtime = { desired, handler, handle, targetJson, stopping };
      this.runtimes.set(desired.uid, current.runtime);
      await this.deps.replays?.started(desired, channel);
      return undefined;
    } catch (error) {
      this.deps.logger.warn({ subscription: nameOf(desired), err: error }, "subscribe failed");
      return error instanceof Error ? error.message : String(error);
    }
  }

  /** A handler whose waits and sends end when the consumer stops or Herald shuts down. */
  private handlerFor(target: SubscriberTarget, stopping: AbortSignal): EventHandler {
    const { sender, logger, tracing, metrics } = this.deps;
    const signal = AbortSignal.any([this.deps.signal, stopping]);
    return createEventHandler(target, { sender, logger, tracing, metrics, signal });
  }

  /** Removes a consumer's durable state and its metrics: its resource is gone. */
  private async forget(desired: DesiredSubscription): Promise<void> {
    await this.deps.metrics.forgetSubscription(desired.namespace, desired.name);
    const channel = this.deps.directory.get(desired.channelKey);
    if (!channel) return;
    try {
      await channel.adapter.deleteSubscription(channel.target, desired.adapterTarget);
    } catch (error) {
      this.deps.logger.error(
        { subscription: nameOf(desired), err: error },
        "deleting the subscription's backend state failed",
      );
    }
  }

  /** Channel status.subscribers, as Knative's SubscribableStatus reports them. */
  private reportSubscribers(): void {
    const { kinds, store, status } = this.deps;
    for (const definition of kinds.withRole("backing-channel", "channel")) {
      for (const resource of store.list(definition)) {
        const address = addressKey(resource.metadata.namespace, resource.metadata.name);
        const subscribers = [...this.runtimes.values()]
          .filter(
            (s) =>
              s.desired.kind === "Subscription" &&
              this.deps.directory.get(s.desired.channelKey)?.address === address,
          )
          .map((s) => ({ uid: s.desired.uid, observedGeneration: s.desired.generation, ready: "True" }))
          .sort((a, b) => a.uid.localeCompare(b.uid));
        status.set(resource, { ...resource.status, subscribers });
      }
    }
  }
}

/**
 * Stops a consumer: its deliveries in flight are aborted first (their events are handed back to the
 * backend, to be delivered again to the next consumer), so closing does not wait for retry backoffs.
 */
async function stop(runtime: SubscriptionRuntime): Promise<void> {
  runtime.stopping.abort();
  await runtime.handle.close();
}

function addedCondition<Type extends string>(
  set: ConditionSet<Type>,
  type: Type,
  uid: string,
  results: ReadonlyMap<string, string | undefined>,
): ConditionInput {
  if (!results.has(uid)) return set.markUnknown(type, "NotReconciled", "waiting for the references above");
  const failure = results.get(uid);
  return failure ? set.markFalse(type, "SubscribeFailed", failure) : set.markTrue(type);
}

function nameOf(desired: DesiredSubscription): string {
  return `${desired.namespace}/${desired.name}`;
}
