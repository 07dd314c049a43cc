import { z } from "zod";

/** The definition fields that hold nested schemas, by zod type. */
const nestedFields: Partial<Record<string, readonly string[]>> = {
  optional: ["innerType"],
  nullable: ["innerType"],
  default: ["innerType"],
  prefault: ["innerType"],
  nonoptional: ["innerType"],
  readonly: ["innerType"],
  catch: ["innerType"],
  array: ["element"],
  record: ["valueType"],
  pipe: ["in", "out"],
};

/**
 * A copy of `schema` in which every object, at any depth, refuses the keys it does not declare,
 * as Kubernetes' strict field validation does (`spec.fliter: unknown field` rather than a Trigger
 * stored without its filter). Objects inside optional, nullable, default, prefault, array, record,
 * union, tuple, pipe and lazy schemas are reached; refinements, transforms and defaults are kept.
 * An object that declares its own catchall (`z.looseObject`, `.catchall()`) keeps it: accepting any
 * key is then the schema's stated choice. Intersections are left as they are, since each side of a
 * strict intersection would refuse the other side's keys.
 */
export function strictSchema<Schema extends z.ZodType>(schema: Schema): Schema {
  return strict(schema, new Map()) as Schema;
}

function strict(schema: z.ZodType, seen: Map<z.ZodType, z.ZodType>): z.ZodType {
  const known = seen.get(schema);
  if (known) return known;
  const def = schema._zod.def as z.core.$ZodTypeDef & Record<string, unknown>;
  const changes: Record<string, unknown> = {};
  switch (def.type) {
    case "object": {
      const { shape } = schema as unknown as z.ZodObject;
      changes.shape = Object.fromEntries(
        Object.entries(shape as Record<string, z.ZodType>).map(([key, field]) => [key, strict(field, seen)]),
      );
      if (def.catchall === undefined) changes.catchall = z.never();
      break;
    }
    case "union":
      changes.options = (def.options as z.ZodType[]).map((option) => strict(option, seen));
      break;
    case "tuple":
      changes.items = (def.items as z.ZodType[]).map((item) => strict(item, seen));
      if (def.rest) changes.rest = strict(def.rest as z.ZodType, seen);
      break;
    case "lazy": {
      const getter = def.getter as () => z.ZodType;
      changes.getter = () => strict(getter(), seen);
      break;
    }
    default:
      for (const field of nestedFields[def.type] ?? []) {
        const nested = def[field];
        if (nested instanceof z.ZodType) changes[field] = strict(nested, seen);
      }
  }
  if (Object.keys(changes).length === 0) return schema;
  // Copy the definition with its getters (a default's value is computed afresh on each use).
  const copy = Object.defineProperties({}, Object.getOwnPropertyDescriptors(def)) as Record<string, unknown>;
  for (const [field, value] of Object.entries(changes))
    Object.defineProperty(copy, field, { value, enumerable: true, writable: true, configurable: true });
  const result = schema.clone(copy as unknown as typeof schema._zod.def);
  seen.set(schema, result);
  return result;
}
