/** CESQL values (3.1) and error kinds (3.3). */
export type Value = string | number | boolean;

export type CesqlErrorKind =
  "parse" | "math" | "cast" | "missingFunction" | "functionEvaluation" | "missingAttribute" | "generic";

export interface CesqlError {
  kind: CesqlErrorKind;
  message: string;
}

export const INTEGER_MIN = -2147483648;
export const INTEGER_MAX = 2147483647;

/** Evaluation state of one expression against one event: the error list (3.3). */
export interface Context {
  readonly attributes: Readonly<Record<string, Value>>;
  readonly errors: CesqlError[];
}

/** 3.7: String -> Integer, base 10, optional sign, 32-bit; otherwise 0 and a CastError. */
export function toInteger(value: Value, context: Context): number {
  if (typeof value === "number") return value;
  if (typeof value === "boolean") return value ? 1 : 0;
  const trimmed = value.trim();
  if (/^[+-]?\d+$/.test(trimmed)) {
    const parsed = Number(trimmed);
    if (parsed >= INTEGER_MIN && parsed <= INTEGER_MAX) return parsed;
  }
  context.errors.push({ kind: "cast", message: `cannot cast "${value}" to Integer` });
  return 0;
}

/** 3.7: String -> Boolean is "true"/"false" in any case; otherwise false and a CastError. */
export function toBoolean(value: Value, context: Context, allowInteger = true): boolean {
  if (typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (allowInteger) return value !== 0;
    context.errors.push({ kind: "cast", message: `cannot use the Integer ${value} as a Boolean operand` });
    return false;
  }
  const lower = value.toLowerCase();
  if (lower === "true") return true;
  if (lower === "false") return false;
  context.errors.push({ kind: "cast", message: `cannot cast "${value}" to Boolean` });
  return false;
}

export function toText(value: Value): string {
  return typeof value === "string" ? value : String(value);
}

/** Casts `value` to the type of `like` (used by `=`/`!=` with the right operand's type, and IN with the left's). */
export function castLike(value: Value, like: Value, context: Context): Value {
  if (typeof like === "number") return toInteger(value, context);
  if (typeof like === "boolean") return toBoolean(value, context);
  return toText(value);
}
