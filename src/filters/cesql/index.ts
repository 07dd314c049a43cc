import type { CloudEvent } from "../../events/event.js";
import { compile } from "./evaluator.js";
import { parse } from "./parser.js";
import type { CesqlError, Value } from "./types.js";

export { CesqlParseError } from "./lexer.js";
export type { CesqlError, CesqlErrorKind, Value } from "./types.js";

/** A CESQL v1 expression, parsed and compiled once, evaluated per event without re-parsing. */
export interface CompiledCesql {
  readonly expression: string;
  evaluate(event: CloudEvent): { value: Value; errors: CesqlError[] };
}

/** Parses and compiles `expression`; throws CesqlParseError with the position of the problem. */
export function parseCesql(expression: string): CompiledCesql {
  const evaluate = compile(parse(expression));
  return {
    expression,
    evaluate: (event) => {
      const errors: CesqlError[] = [];
      const value = evaluate({ attributes: event.attributes, errors });
      return { value, errors };
    },
  };
}
