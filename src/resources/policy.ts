import { z } from "zod";

const required = { error: "is required" } as const;
const requiredString = z.string(required).min(1, "is required");

/** Kubernetes metav1.LabelSelectorRequirement. */
const labelSelectorRequirementSchema = z
  .strictObject({
    key: requiredString,
    operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"], {
      error: 'must be "In", "NotIn", "Exists" or "DoesNotExist"',
    }),
    values: z.array(z.string()).optional(),
  })
  .superRefine((requirement, ctx) => {
    const values = requirement.values ?? [];
    const takesValues = requirement.operator === "In" || requirement.operator === "NotIn";
    if (takesValues && values.length === 0)
      ctx.addIssue({
        code: "custom",
        path: ["values"],
        message: `must not be empty with ${requirement.operator}`,
      });
    if (!takesValues && values.length > 0)
      ctx.addIssue({
        code: "custom",
        path: ["values"],
        message: `must be empty with ${requirement.operator}`,
      });
  });

/** Kubernetes metav1.LabelSelector. */
export const labelSelectorSchema = z.strictObject({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z.array(labelSelectorRequirementSchema).optional(),
});
export type LabelSelector = z.output<typeof labelSelectorSchema>;

/** Whether `labels` match `selector` (Kubernetes: every matchLabels pair and every expression). */
export function matchesLabels(
  selector: LabelSelector,
  labels: Readonly<Record<string, string>> = {},
): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {}))
    if (!Object.hasOwn(labels, key) || labels[key] !== value) return false;
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const present = Object.hasOwn(labels, key);
    switch (operator) {
      case "In":
        if (!present || !values.includes(labels[key]!)) return false;
        break;
      case "NotIn":
        if (present && values.includes(labels[key]!)) return false;
        break;
      case "Exists":
        if (!present) return false;
        break;
      case "DoesNotExist":
        if (present) return false;
        break;
    }
  }
  return true;
}

/** EventPolicyToReference: a Broker, Channel or other addressable in the policy's namespace. */
const toReferenceSchema = z.strictObject({
  apiVersion: requiredString,
  kind: requiredString,
  name: requiredString,
});

/** EventPolicyFromReference: a resource that sends (a Trigger, Subscription, source...). */
const fromReferenceSchema = z.strictObject({
  apiVersion: requiredString,
  kind: requiredString,
  name: requiredString,
  namespace: z.string().optional(),
});

/** EventPolicySelector: a LabelSelector with the apiVersion and kind of the resources it selects. */
const toSelectorSchema = labelSelectorSchema.extend({
  apiVersion: requiredString,
  kind: requiredString,
});

const toSchema = z
  .strictObject({ ref: toReferenceSchema.optional(), selector: toSelectorSchema.optional() })
  .superRefine((to, ctx) => {
    if (!to.ref && !to.selector)
      ctx.addIssue({ code: "custom", message: "expected exactly one of ref, selector" });
    if (to.ref && to.selector)
      ctx.addIssue({ code: "custom", message: "expected exactly one of ref, selector, got both" });
  });

const fromSchema = z
  .strictObject({ ref: fromReferenceSchema.optional(), sub: z.string().optional() })
  .superRefine((from, ctx) => {
    const hasSub = from.sub !== undefined && from.sub !== "";
    if (!from.ref && !hasSub) ctx.addIssue({ code: "custom", message: "expected exactly one of ref, sub" });
    if (from.ref && hasSub)
      ctx.addIssue({ code: "custom", message: "expected exactly one of ref, sub, got both" });
    // Knative eventpolicy_validation.go: a `*` only as the last character (a prefix pattern).
    if (hasSub && from.sub!.slice(0, -1).includes("*"))
      ctx.addIssue({ code: "custom", path: ["sub"], message: "'*' is only allowed as suffix" });
  });

/**
 * eventing.knative.dev/v1alpha1 EventPolicy: who (`from`) may send which events (`filters`) to which
 * addressables (`to`, every Broker and Channel of the namespace when empty). `filters` are Knative's
 * SubscriptionsAPI filters, checked in depth by src/filters at apply time.
 */
export const eventPolicySpecSchema = z.strictObject({
  to: z.array(toSchema).optional(),
  from: z.array(fromSchema).optional(),
  filters: z.array(z.record(z.string(), z.unknown())).optional(),
});
export type EventPolicySpec = z.output<typeof eventPolicySpecSchema>;
