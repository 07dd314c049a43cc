import { INTEGER_MIN, INTEGER_MAX, toBoolean, toInteger, toText, type Context, type Value } from "./types.js";

type Parameter = "string" | "integer" | "boolean" | "any";

export interface FunctionDefinition {
  /** Fixed parameters; `variadic` repeats the last type any number of times (>= 0). */
  parameters: Parameter[];
  variadic?: Parameter;
  returns: "string" | "integer" | "boolean";
  call(args: Value[], context: Context): Value;
}

function functionError(context: Context, message: string): void {
  context.errors.push({ kind: "functionEvaluation", message });
}

/** 3.5 built-in functions, plus the casting functions of the TCK, by name and arity. */
const builtIns: Record<string, FunctionDefinition[]> = {
  LENGTH: [{ parameters: ["string"], returns: "integer", call: ([x]) => [...(x as string)].length }],
  CONCAT: [{ parameters: [], variadic: "string", returns: "string", call: (args) => args.join("") }],
  CONCAT_WS: [
    {
      parameters: ["string"],
      variadic: "string",
      returns: "string",
      call: ([delimiter, ...rest]) => rest.join(delimiter as string),
    },
  ],
  LOWER: [{ parameters: ["string"], returns: "string", call: ([x]) => (x as string).toLowerCase() }],
  UPPER: [{ parameters: ["string"], returns: "string", call: ([x]) => (x as string).toUpperCase() }],
  TRIM: [{ parameters: ["string"], returns: "string", call: ([x]) => (x as string).trim() }],
  LEFT: [
    {
      parameters: ["string", "integer"],
      returns: "string",
      call: ([x, y], context) => {
        const chars = [...(x as string)];
        if ((y as number) < 0) {
          functionError(context, "LEFT: the length must not be negative");
          return x as string;
        }
        return chars.slice(0, y as number).join("");
      },
    },
  ],
  RIGHT: [
    {
      parameters: ["string", "integer"],
      returns: "string",
      call: ([x, y], context) => {
        const chars = [...(x as string)];
        if ((y as number) < 0) {
          functionError(context, "RIGHT: the length must not be negative");
          return x as string;
        }
        return (y as number) === 0 ? "" : chars.slice(-(y as number)).join("");
      },
    },
  ],
  SUBSTRING: [
    {
      parameters: ["string", "integer"],
      returns: "string",
      call: ([x, pos], context) => substring(x as string, pos as number, undefined, context),
    },
    {
      parameters: ["string", "integer", "integer"],
      returns: "string",
      call: ([x, pos, len], context) => substring(x as string, pos as number, len as number, context),
    },
  ],
  ABS: [
    {
      parameters: ["integer"],
      returns: "integer",
      call: ([x], context) => {
        if (x === INTEGER_MIN) {
          context.errors.push({
            kind: "math",
            message: "ABS: the absolute value of -2147483648 is out of range",
          });
          return INTEGER_MAX;
        }
        return Math.abs(x as number);
      },
    },
  ],
  INT: [{ parameters: ["integer"], returns: "integer", call: ([x]) => x as number }],
  BOOL: [{ parameters: ["boolean"], returns: "boolean", call: ([x]) => x as boolean }],
  STRING: [{ parameters: ["string"], returns: "string", call: ([x]) => x as string }],
  IS_INT: [
    {
      parameters: ["any"],
      returns: "boolean",
      call: ([x]) => typeof x === "number" || /^[+-]?\d+$/.test(toText(x!).trim()),
    },
  ],
  IS_BOOL: [
    {
      parameters: ["any"],
      returns: "boolean",
      call: ([x]) => typeof x === "boolean" || /^(true|false)$/i.test(toText(x!)),
    },
  ],
};

/** 3.5.1 SUBSTRING: 1-based; a negative position counts from the end; 0 gives "". */
function substring(x: string, pos: number, length: number | undefined, context: Context): string {
  const chars = [...x];
  if (pos === 0) return "";
  if (Math.abs(pos) > chars.length || (length !== undefined && length < 0)) {
    functionError(context, `SUBSTRING: position ${pos} is outside a string of length ${chars.length}`);
    return "";
  }
  const start = pos > 0 ? pos - 1 : chars.length + pos;
  const end = length === undefined ? chars.length : Math.min(chars.length, start + length);
  return chars.slice(start, end).join("");
}

export function findFunction(name: string, arity: number): FunctionDefinition | undefined {
  if (!Object.hasOwn(builtIns, name)) return undefined;
  return builtIns[name]?.find((d) =>
    d.variadic ? arity >= d.parameters.length : arity === d.parameters.length,
  );
}

/** Casts an argument to a parameter type (3.7: functions are never ambiguous). */
export function castArgument(value: Value, parameter: Parameter, context: Context): Value {
  switch (parameter) {
    case "string":
      return toText(value);
    case "integer":
      return toInteger(value, context);
    case "boolean":
      return toBoolean(value, context);
    default:
      return value;
  }
}
