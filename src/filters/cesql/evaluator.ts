import type { Node } from "./ast.js";
import { castArgument, findFunction } from "./functions.js";
import { compileLikePattern } from "./like.js";
import { castLike, toBoolean, toInteger, toText, type Context, type Value } from "./types.js";

export type Evaluate = (context: Context) => Value;

/**
 * Compiles the tree once into closures. Error rules (CESQL 3.2, 3.3): an operand whose evaluation
 * raised an error makes its operator return the zero value of its return type (so a missing
 * attribute in `missing / 0` gives 0 and no MathError); a failed implicit cast inside an operator
 * uses the cast's zero value and evaluation goes on. AND/OR short-circuit.
 */
export function compile(node: Node): Evaluate {
  switch (node.type) {
    case "literal": {
      const { value } = node;
      return () => value;
    }
    case "attribute": {
      const { name } = node;
      return (context) => {
        // Own attributes only: `constructor` or `toString` are not attributes of any event.
        const value = Object.hasOwn(context.attributes, name) ? context.attributes[name] : undefined;
        if (value !== undefined) return value;
        context.errors.push({ kind: "missingAttribute", message: `attribute "${name}" is not present` });
        return false;
      };
    }
    case "exists": {
      const { name } = node;
      return (context) => Object.hasOwn(context.attributes, name) && context.attributes[name] !== undefined;
    }
    case "unary": {
      const operand = compile(node.operand);
      if (node.operator === "NOT") {
        return (context) => {
          const before = context.errors.length;
          const value = operand(context);
          if (context.errors.length > before) return false;
          return !toBoolean(value, context, false);
        };
      }
      return (context) => {
        const before = context.errors.length;
        const value = operand(context);
        if (context.errors.length > before) return 0;
        return -toInteger(value, context) | 0;
      };
    }
    case "like":
      return compileLike(node.operand, node.pattern, node.negated);
    case "in":
      return compileIn(node.operand, node.set, node.negated);
    case "call":
      return compileCall(node.name, node.args);
    case "binary":
      return compileBinary(node.operator, compile(node.left), compile(node.right));
  }
}

function compileBinary(operator: string, left: Evaluate, right: Evaluate): Evaluate {
  switch (operator) {
    case "AND":
      return (context) => {
        const before = context.errors.length;
        const a = left(context);
        if (context.errors.length > before || !toBoolean(a, context, false)) return false;
        const b = right(context);
        if (context.errors.length > before) return false;
        return toBoolean(b, context, false);
      };
    case "OR":
      return (context) => {
        const before = context.errors.length;
        const a = left(context);
        if (context.errors.length > before) return false;
        if (toBoolean(a, context, false)) return true;
        const b = right(context);
        if (context.errors.length > before) return false;
        return toBoolean(b, context, false);
      };
    case "XOR":
      return (context) => {
        const before = context.errors.length;
        const a = left(context);
        const b = right(context);
        if (context.errors.length > before) return false;
        return toBoolean(a, context, false) !== toBoolean(b, context, false);
      };
    case "=":
    case "!=": {
      const negated = operator === "!=";
      return (context) => {
        const before = context.errors.length;
        const a = left(context);
        const b = right(context);
        if (context.errors.length > before) return false;
        // `=` is ambiguous: the right operand's type decides the cast of the left (3.7).
        return (castLike(a, b, context) === b) !== negated;
      };
    }
    case "<":
    case "<=":
    case ">":
    case ">=": {
      const compare =
        operator === "<"
          ? (a: number, b: number) => a < b
          : operator === "<="
            ? (a: number, b: number) => a <= b
            : operator === ">"
              ? (a: number, b: number) => a > b
              : (a: number, b: number) => a >= b;
      return (context) => {
        const before = context.errors.length;
        const a = left(context);
        const b = right(context);
        if (context.errors.length > before) return false;
        return compare(toInteger(a, context), toInteger(b, context));
      };
    }
    default:
      return compileArithmetic(operator, left, right);
  }
}

function compileArithmetic(operator: string, left: Evaluate, right: Evaluate): Evaluate {
  return (context) => {
    const before = context.errors.length;
    const a = left(context);
    const b = right(context);
    if (context.errors.length > before) return 0;
    const x = toInteger(a, context);
    const y = toInteger(b, context);
    switch (operator) {
      case "+":
        return (x + y) | 0;
      case "-":
        return (x - y) | 0;
      case "*":
        return Math.imul(x, y);
      default:
        if (y === 0) {
          context.errors.push({
            kind: "math",
            message: `${operator === "/" ? "division" : "modulo"} by zero`,
          });
          return 0;
        }
        return operator === "/" ? Math.trunc(x / y) | 0 : x % y;
    }
  };
}

function compileLike(operandNode: Node, pattern: string, negated: boolean): Evaluate {
  const operand = compile(operandNode);
  const matches = compileLikePattern(pattern);
  return (context) => {
    const before = context.errors.length;
    const value = operand(context);
    if (context.errors.length > before) return false;
    return matches(toText(value)) !== negated;
  };
}

function compileIn(operandNode: Node, setNodes: Node[], negated: boolean): Evaluate {
  const operand = compile(operandNode);
  const set = setNodes.map(compile);
  return (context) => {
    const before = context.errors.length;
    const value = operand(context);
    if (context.errors.length > before) return false;
    let found = false;
    for (const element of set) {
      const item = element(context);
      if (context.errors.length > before) return false;
      // IN casts the set elements to the left operand's type (3.7).
      if (castLike(item, value, context) === value) {
        found = true;
        break;
      }
    }
    return found !== negated;
  };
}

function compileCall(name: string, argNodes: Node[]): Evaluate {
  const definition = findFunction(name, argNodes.length);
  if (!definition) {
    return (context) => {
      context.errors.push({
        kind: "missingFunction",
        message: `no function ${name} with ${argNodes.length} argument(s)`,
      });
      return false;
    };
  }
  const args = argNodes.map(compile);
  const zero: Value = definition.returns === "string" ? "" : definition.returns === "integer" ? 0 : false;
  return (context) => {
    const before = context.errors.length;
    const values = args.map((arg) => arg(context));
    if (context.errors.length > before) return zero;
    const casted = values.map((value, i) =>
      castArgument(value, definition.parameters[i] ?? definition.variadic ?? "any", context),
    );
    return definition.call(casted, context);
  };
}
