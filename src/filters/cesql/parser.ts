import type { Node } from "./ast.js";
import { CesqlParseError, tokenize, type Token } from "./lexer.js";

const INTEGER_MAX = 2147483647;

/**
 * Recursive-descent parser following cesql/CESQLParser.g4's precedence, highest first: function
 * calls, unary NOT and -, LIKE, EXISTS, IN, * / %, + -, comparisons, AND OR XOR (right
 * associative, as the grammar declares).
 */
export function parse(expression: string): Node {
  const tokens = tokenize(expression);
  let index = 0;
  const peek = (): Token => tokens[index]!;
  const next = (): Token => tokens[index++]!;
  const isKeyword = (word: string, at = 0) =>
    tokens[index + at]?.kind === "keyword" && tokens[index + at]!.text === word;
  const isOperator = (...ops: string[]) => peek().kind === "operator" && ops.includes(peek().text);
  const fail = (token: Token, expected: string): never => {
    throw new CesqlParseError(
      `expected ${expected} but found ${token.kind === "end" ? "end of input" : `'${token.text}'`}`,
      token.position,
    );
  };
  const expect = (kind: Token["kind"], what: string) => (peek().kind === kind ? next() : fail(peek(), what));

  function logic(): Node {
    const left = comparison();
    if (isKeyword("AND") || isKeyword("OR") || isKeyword("XOR")) {
      const operator = next().text;
      return { type: "binary", operator, left, right: logic() };
    }
    return left;
  }
  function comparison(): Node {
    let left = additive();
    while (isOperator("=", "!=", "<>", ">=", "<=", "<", ">")) {
      const operator = next().text;
      left = { type: "binary", operator: operator === "<>" ? "!=" : operator, left, right: additive() };
    }
    return left;
  }
  function additive(): Node {
    let left = multiplicative();
    while (isOperator("+", "-")) {
      const operator = next().text;
      left = { type: "binary", operator, left, right: multiplicative() };
    }
    return left;
  }
  function multiplicative(): Node {
    let left = membership();
    while (isOperator("*", "/", "%")) {
      const operator = next().text;
      left = { type: "binary", operator, left, right: membership() };
    }
    return left;
  }
  function membership(): Node {
    let operand = like();
    while (isKeyword("IN") || (isKeyword("NOT") && isKeyword("IN", 1))) {
      const negated = isKeyword("NOT");
      index += negated ? 2 : 1;
      expect("(", "'(' to open the IN set");
      const set = [logic()];
      while (peek().kind === ",") {
        next();
        set.push(logic());
      }
      expect(")", "')' to close the IN set");
      operand = { type: "in", negated, operand, set };
    }
    return operand;
  }
  function like(): Node {
    let operand = unary();
    while (isKeyword("LIKE") || (isKeyword("NOT") && isKeyword("LIKE", 1))) {
      const negated = isKeyword("NOT");
      index += negated ? 2 : 1;
      // The pattern must be a string literal (CESQL 3.4.3).
      const pattern =
        peek().kind === "string" ? next().text : fail(peek(), "a string literal as the LIKE pattern");
      operand = { type: "like", negated, operand, pattern };
    }
    return operand;
  }
  function unary(): Node {
    if (isKeyword("NOT")) {
      next();
      return { type: "unary", operator: "NOT", operand: unary() };
    }
    if (isOperator("-", "+")) {
      const sign = next().text;
      if (peek().kind === "integer") return integer(next(), sign === "-");
      if (sign === "+") fail(peek(), "an integer after '+'");
      return { type: "unary", operator: "-", operand: unary() };
    }
    return primary();
  }
  function integer(token: Token, negative: boolean): Node {
    const value = Number(token.text) * (negative ? -1 : 1);
    if (value > INTEGER_MAX || value < -INTEGER_MAX - 1) {
      throw new CesqlParseError(`integer literal ${token.text} is out of the 32-bit range`, token.position);
    }
    return { type: "literal", value };
  }
  function primary(): Node {
    const token = next();
    switch (token.kind) {
      case "integer":
        return integer(token, false);
      case "string":
        return { type: "literal", value: token.text };
      case "(": {
        const inner = logic();
        expect(")", "')'");
        return inner;
      }
      case "keyword":
        if (token.text === "TRUE" || token.text === "FALSE")
          return { type: "literal", value: token.text === "TRUE" };
        if (token.text === "EXISTS") {
          const name =
            peek().kind === "identifier" ? next().text : fail(peek(), "an attribute name after EXISTS");
          return { type: "exists", name: name.toLowerCase() };
        }
        return fail(token, "an expression");
      case "identifier":
        if (peek().kind === "(") {
          next();
          const args: Node[] = [];
          if (peek().kind !== ")") {
            args.push(logic());
            while (peek().kind === ",") {
              next();
              args.push(logic());
            }
          }
          expect(")", "')' to close the function call");
          return { type: "call", name: token.text.toUpperCase(), args, position: token.position };
        }
        if (token.text.includes("_")) fail(token, "an attribute name (letters and digits only)");
        return { type: "attribute", name: token.text.toLowerCase() };
      default:
        return fail(token, "an expression");
    }
  }

  const tree = logic();
  if (peek().kind !== "end") fail(peek(), "end of input");
  return tree;
}
