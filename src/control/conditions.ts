import type { Condition } from "../resources/common.js";

export interface ConditionInput {
  type: string;
  status: Condition["status"];
  reason?: string | undefined;
  message?: string | undefined;
}

/**
 * Builds a conditions list in Knative's shape, keeping each condition's lastTransitionTime when its
 * status did not change. `Ready` is True only when every other condition is True (Knative's
 * LivingConditionSet); otherwise it carries the first failing condition's reason and message.
 */
export function conditionsFor(
  previous: readonly Condition[] | undefined,
  inputs: readonly ConditionInput[],
): Condition[] {
  const now = new Date().toISOString();
  const failing = inputs.find((c) => c.status !== "True");
  const ready: ConditionInput = failing
    ? { type: "Ready", status: failing.status, reason: failing.reason, message: failing.message }
    : { type: "Ready", status: "True" };
  return [...inputs, ready]
    .map((input) => {
      const before = previous?.find((c) => c.type === input.type);
      const condition: Condition = {
        type: input.type,
        status: input.status,
        lastTransitionTime: before && before.status === input.status ? before.lastTransitionTime : now,
      };
      if (input.reason) condition.reason = input.reason;
      if (input.message) condition.message = input.message;
      return condition;
    })
    .sort((a, b) => a.type.localeCompare(b.type));
}

export function isReady(conditions: readonly Condition[] | undefined): boolean {
  return conditions?.find((c) => c.type === "Ready")?.status === "True";
}

/**
 * A kind's condition types, named once (Knative's ConditionSet): `mark…` helpers build inputs for
 * `conditionsFor`, and a type outside the set does not compile.
 */
export class ConditionSet<Type extends string> {
  readonly types: readonly Type[];

  constructor(...types: Type[]) {
    this.types = types;
  }

  markTrue(type: Type): ConditionInput {
    return { type, status: "True" };
  }

  markFalse(type: Type, reason: string, message?: string): ConditionInput {
    return { type, status: "False", reason, message };
  }

  markUnknown(type: Type, reason: string, message?: string): ConditionInput {
    return { type, status: "Unknown", reason, message };
  }
}

/** messaging.knative.dev Channel: ready when its backing channel is. */
export const channelConditions = new ConditionSet("Addressable", "BackingChannelReady", "EventPoliciesReady");
/** A backing channel (InMemoryChannel, KafkaChannel...): ready when its backend topology is. */
export const backingChannelConditions = new ConditionSet("Addressable", "BackendReady", "EventPoliciesReady");
/** Subscription (Knative's SubCondSet). */
export const subscriptionConditions = new ConditionSet(
  "ChannelReady",
  "ReferencesResolved",
  "AddedToChannel",
);
/** Broker (Knative's channel-based broker). */
export const brokerConditions = new ConditionSet(
  "Addressable",
  "TriggerChannelReady",
  "EventPoliciesReady",
  /** Only when a dead-letter sink is set, as on a Trigger. */
  "DeadLetterSinkResolved",
);
/** Trigger. `DeadLetterSinkResolved` appears only when a dead-letter sink is set. */
export const triggerConditions = new ConditionSet(
  "BrokerReady",
  "SubscriberResolved",
  "DeadLetterSinkResolved",
  "SubscriptionReady",
);
/** Every source (Knative's SourceStatus); a worker adds its own types (e.g. "Connected"). */
export const sourceConditions = new ConditionSet("SinkProvided");
