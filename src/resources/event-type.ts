import { z } from "zod";
import { kReferenceSchema } from "./common.js";

const attributeSchema = z.strictObject({
  name: z
    .string({ error: "is required" })
    .regex(/^[a-z0-9]+$/, "must be a CloudEvents attribute name (lower-case letters and digits)"),
  required: z.boolean().default(false),
  value: z.string().optional(),
});

/** The attributes every v1beta3 EventType declares (Knative's ValidateAttributes). */
const REQUIRED_ATTRIBUTES = ["type", "source", "specversion", "id"];

/**
 * eventing.knative.dev EventType, stored as v1beta3: `attributes` (at least type, source,
 * specversion and id), `reference` and `description`. A v1beta2 or v1beta1 document (`type`,
 * `source`, `schema`, `broker`) is converted as Knative's conversion webhook does: its fields
 * become attributes, `broker` a reference to that Broker.
 */
export const eventTypeSpecSchema = z
  .strictObject({
    attributes: z.array(attributeSchema).optional(),
    reference: kReferenceSchema.optional(),
    description: z.string().nullish(),
    // v1beta2 / v1beta1 fields, converted below.
    type: z.string().min(1, "must not be empty").optional(),
    source: z.string().nullish(),
    schema: z.string().nullish(),
    broker: z.string().nullish(),
  })
  .superRefine((spec, ctx) => {
    const legacy = spec.type !== undefined || spec.source || spec.schema || spec.broker;
    if (legacy && spec.attributes)
      ctx.addIssue({
        code: "custom",
        message: "attributes (v1beta3) and type/source/schema/broker (v1beta2) cannot be mixed",
      });
    if (!legacy) {
      const names = new Set((spec.attributes ?? []).map((attribute) => attribute.name));
      const missing = REQUIRED_ATTRIBUTES.filter((name) => !names.has(name));
      if (missing.length > 0)
        ctx.addIssue({
          code: "custom",
          path: ["attributes"],
          message: `missing attributes: ${missing.join(", ")}`,
        });
    }
  })
  .transform(({ attributes, reference, description, type, source, schema, broker }) => {
    const converted = attributes ?? [
      { name: "specversion", required: true },
      { name: "id", required: true },
      ...(type !== undefined ? [{ name: "type", required: true, value: type }] : []),
      ...(source ? [{ name: "source", required: true, value: source }] : []),
      ...(schema ? [{ name: "schemadata", required: false, value: schema }] : []),
    ];
    const referenced =
      reference ??
      (broker ? { apiVersion: "eventing.knative.dev/v1", kind: "Broker", name: broker } : undefined);
    return {
      attributes: converted,
      ...(referenced ? { reference: referenced } : {}),
      ...(description ? { description } : {}),
    };
  });
export type EventTypeSpec = z.output<typeof eventTypeSpecSchema>;
