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
