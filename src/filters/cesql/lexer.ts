/**
 * CESQL v1 lexer (cloudevents/spec cesql/CESQLLexer.g4). Keywords and identifiers are
 * case-insensitive; string literals keep their case.
 */
export type TokenKind =
  "integer" | "string" | "identifier" | "keyword" | "operator" | "(" | ")" | "," | "end";

export interface Token {
  kind: TokenKind;
  /** Keywords and identifiers upper-cased (keywords) or as written (identifiers); strings unescaped. */
  text: string;
  position: number;
}

export class CesqlParseError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at position ${position}`);
    this.name = "CesqlParseError";
  }
}

const KEYWORDS = new Set(["AND", "OR", "XOR", "NOT", "LIKE", "EXISTS", "IN", "TRUE", "FALSE"]);
const OPERATORS = ["!=", "<>", ">=", "<=", "=", "<", ">", "*", "/", "%", "+", "-"];

function isLetter(char: string): boolean {
  return (char >= "a" && char <= "z") || (char >= "A" && char <= "Z");
}
function isDigit(char: string): boolean {
  return char >= "0" && char <= "9";
}

/** Reads a quoted literal: `\x` escapes and a doubled quote stand for the quote; other escapes stay as written. */
function readString(input: string, start: number): { text: string; end: number } {
  const quote = input[start]!;
  let text = "";
  let i = start + 1;
  while (i < input.length) {
    const char = input[i]!;
    if (char === "\\" && i + 1 < input.length) {
      const next = input[i + 1]!;
      text += next === quote ? next : char + next;
      i += 2;
    } else if (char === quote) {
      if (input[i + 1] === quote) {
        text += quote;
        i += 2;
      } else return { text, end: i + 1 };
    } else {
      text += char;
      i++;
    }
  }
  throw new CesqlParseError("unterminated string literal", start);
}

export function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const char = input[i]!;
    if (char === " " || char === "\t" || char === "\r" || char === "\n") {
      i++;
      continue;
    }
    if (char === "(" || char === ")" || char === ",") {
      tokens.push({ kind: char, text: char, position: i });
      i++;
      continue;
    }
    if (char === "'" || char === '"') {
      const { text, end } = readString(input, i);
      tokens.push({ kind: "string", text, position: i });
      i = end;
      continue;
    }
    if (isDigit(char)) {
      let end = i;
      while (end < input.length && isDigit(input[end]!)) end++;
      if (end < input.length && isLetter(input[end]!)) {
        // IDENTIFIER_WITH_NUMBER: [a-zA-Z0-9]+ starting with a digit.
        while (end < input.length && (isLetter(input[end]!) || isDigit(input[end]!))) end++;
        tokens.push({ kind: "identifier", text: input.slice(i, end), position: i });
      } else tokens.push({ kind: "integer", text: input.slice(i, end), position: i });
      i = end;
      continue;
    }
    if (isLetter(char)) {
      let end = i;
      while (end < input.length && (isLetter(input[end]!) || isDigit(input[end]!) || input[end] === "_"))
        end++;
      const word = input.slice(i, end);
      const upper = word.toUpperCase();
      tokens.push(
        KEYWORDS.has(upper)
          ? { kind: "keyword", text: upper, position: i }
          : { kind: "identifier", text: word, position: i },
      );
      i = end;
      continue;
    }
    const operator = OPERATORS.find((op) => input.startsWith(op, i));
    if (operator) {
      tokens.push({ kind: "operator", text: operator, position: i });
      i += operator.length;
      continue;
    }
    throw new CesqlParseError(`unexpected character '${char}'`, i);
  }
  tokens.push({ kind: "end", text: "end of input", position: input.length });
  return tokens;
}
