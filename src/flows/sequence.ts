import type { Resource } from "../resources/common.js";
import type { SequenceSpec } from "../resources/flows.js";
import { coreKinds, type KindRegistry } from "../resources/kinds.js";
import type { Admission } from "../control/admission.js";
import type { BackingProblem, BackingRequest } from "../control/backing-channels.js";
import type { ChannelTemplate } from "../control/brokers.js";
import { ConditionSet, type ConditionInput } from "../control/conditions.js";
import type { StatusWriter } from "../control/status.js";
import type { ResourceStore } from "../control/store.js";
import {
  applySubscriptions,
  channelDestination,
  childStatus,
  deleteUnwantedSubscriptions,
  firstNotReady,
  notReadyMessage,
  type ChildStatus,
  type OwnedSubscription,
} from "./owned.js";

export type SequenceResource = Resource<"Sequence", SequenceSpec>;

/** flows.knative.dev Sequence (Knative's SequenceCondSet). */
export const sequenceConditions = new ConditionSet("ChannelsReady", "SubscriptionsReady", "Addressable");

/** The name of step `step`'s channel and Subscription, as Knative's sequence controller names them. */
export function sequenceChildName(sequence: string, step: number): string {
  return `${sequence}-kn-sequence-${step}`;
}

export interface FlowDeps {
  readonly kinds: KindRegistry;
  readonly store: ResourceStore;
  readonly admission: Admission;
  readonly status: StatusWriter;
}

/**
 * flows.knative.dev Sequence (Knative's sequence controller): a channel per step, of the
 * channelTemplate's kind (else the default channel kind), and a Subscription per step from its
 * channel to the step, replying to the next step's channel, the last one to `spec.reply`. It is
 * addressable at the first channel, so it runs on every backend.
 */
export class SequenceReconciler {
  private readonly definition: typeof coreKinds.sequence = coreKinds.sequence;
  /** Why a Sequence's Subscriptions could not be written, by its uid, from the last `subscribe`. */
  private failures = new Map<string, string>();

  constructor(private readonly deps: FlowDeps) {}

  requests(): BackingRequest[] {
    return this.sequences().flatMap((sequence) =>
      sequence.spec.steps.map((_, step) => ({
        owner: sequence,
        name: sequenceChildName(sequence.metadata.name, step),
        template: this.templateOf(sequence),
        delivery: undefined,
      })),
    );
  }

  /** Writes every Sequence's Subscriptions, deletes those no Sequence asks for, then reports. */
  async subscribe(problems: ReadonlyMap<string, BackingProblem>): Promise<void> {
    const wanted = new Set<string>();
    const failures = new Map<string, string>();
    for (const sequence of this.sequences()) {
      const subscriptions = this.subscriptionsOf(sequence);
      for (const { name } of subscriptions) wanted.add(`${sequence.metadata.namespace}/${name}`);
      const failure = await applySubscriptions(this.deps, sequence, subscriptions);
      if (failure) failures.set(sequence.metadata.uid, failure);
    }
    await deleteUnwantedSubscriptions(this.deps.store, this.definition.kind, wanted);
    this.failures = failures;
    this.report(problems);
  }

  /** Status from the channels' and Subscriptions' own: channelStatuses, subscriptionStatuses, address. */
  report(problems: ReadonlyMap<string, BackingProblem>): void {
    const { kinds, store, status } = this.deps;
    for (const sequence of this.sequences()) {
      const { namespace, name } = sequence.metadata;
      const template = this.templateOf(sequence);
      const steps = sequence.spec.steps.map((_, step) => sequenceChildName(name, step));
      const channels = steps.map((child) =>
        childStatus(kinds, store, {
          apiVersion: template.apiVersion,
          kind: template.kind,
          name: child,
          namespace,
        }),
      );
      const subscriptions = steps.map((child) =>
        childStatus(kinds, store, {
          apiVersion: "messaging.knative.dev/v1",
          kind: "Subscription",
          name: child,
          namespace,
        }),
      );
      const first = kinds.find(template.apiVersion, template.kind);
      const address = first && store.get(first, namespace, steps[0]!)?.status.address;
      const problem = problems.get(sequence.metadata.uid);
      const failure = this.failures.get(sequence.metadata.uid);
      status.set(sequence, {
        ...(address ? { address } : {}),
        channelStatuses: channels.map(({ ready, ...channel }) => ({ channel, ready })),
        subscriptionStatuses: subscriptions.map(({ ready, ...subscription }) => ({ subscription, ready })),
        conditions: status.conditions(sequence, [
          problem
            ? sequenceConditions.markFalse("ChannelsReady", problem.reason, problem.message)
            : childrenReady(sequenceConditions, "ChannelsReady", "ChannelsNotReady", channels),
          failure
            ? sequenceConditions.markFalse("SubscriptionsReady", "SubscriptionsInvalid", failure)
            : childrenReady(sequenceConditions, "SubscriptionsReady", "SubscriptionsNotReady", subscriptions),
          address
            ? sequenceConditions.markTrue("Addressable")
            : sequenceConditions.markFalse(
                "Addressable",
                "NotAddressable",
                "the first step's channel has no address yet",
              ),
        ]),
      });
    }
  }

  private subscriptionsOf(sequence: SequenceResource): OwnedSubscription[] {
    const { namespace, name } = sequence.metadata;
    const template = this.templateOf(sequence);
    const { steps, reply } = sequence.spec;
    return steps.map(({ delivery, ...destination }, step) => {
      const next =
        step < steps.length - 1
          ? channelDestination(template, namespace, sequenceChildName(name, step + 1))
          : reply;
      return {
        name: sequenceChildName(name, step),
        spec: {
          channel: {
            apiVersion: template.apiVersion,
            kind: template.kind,
            name: sequenceChildName(name, step),
          },
          subscriber: destination,
          ...(next ? { reply: next } : {}),
          ...(delivery ? { delivery } : {}),
        },
      };
    });
  }

  private templateOf(sequence: SequenceResource): ChannelTemplate {
    return sequence.spec.channelTemplate ?? this.deps.admission.defaultTemplate();
  }

  private sequences(): SequenceResource[] {
    return this.deps.store.list(this.definition);
  }
}

/** True when every child is Ready; else False (or Unknown) with the first one that is not. */
export function childrenReady<Type extends string>(
  set: ConditionSet<Type>,
  type: Type,
  reason: string,
  children: readonly ChildStatus[],
): ConditionInput {
  const notReady = firstNotReady(children);
  if (!notReady) return set.markTrue(type);
  return notReady.ready.status === "Unknown"
    ? set.markUnknown(type, reason, notReadyMessage(notReady))
    : set.markFalse(type, reason, notReadyMessage(notReady));
}
