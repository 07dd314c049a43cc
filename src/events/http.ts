import { HeraldError } from "../errors.js";
import type { AttributeValue, CloudEvent } from "./event.js";
import { ATTRIBUTE_NAME, validateAttributes, type Problem } from "./validate.js";

/** CloudEvents HTTP protocol binding 1.0: binary, structured and batched content modes. */
export type Headers = Readonly<Record<string, string | string[] | undefined>>;
export type ContentMode = "binary" | "structured" | "batch";

const STRUCTURED = "application/cloudevents";
const BATCH = "application/cloudevents-batch";

/** The most events one batched request may hold by default (413 above). */
export const DEFAULT_MAX_BATCH_EVENTS = 1000;
/**
 * How deeply a structured or batched body may nest JSON objects and arrays, the event object (and
 * the batch array) included. Deeper input is refused with 400 before it is parsed.
 */
export const MAX_JSON_DEPTH = 128;

export interface ParseLimits {
  /** The most events a batch may hold; DEFAULT_MAX_BATCH_EVENTS when unset. */
  readonly maxBatchEvents?: number | undefined;
}

/** Decodes UTF-8 strictly: invalid bytes are an error, never U+FFFD. */
const utf8 = new TextDecoder("utf-8", { fatal: true });

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(",") : value;
}

/** Whether a header was sent more than once (Node's `headersDistinct`, undici's repeated headers). */
function isRepeated(value: string | string[] | undefined): boolean {
  return Array.isArray(value) && value.length > 1;
}

function mediaType(contentType: string | undefined): string {
  if (!contentType) return "";
  const semicolon = contentType.indexOf(";");
  return (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
}

/** JSON media types (JSON event format 3.1): application/json, text/json, any +json; absent means JSON. */
export function isJsonContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return true;
  const type = mediaType(contentType);
  return type === "application/json" || type === "text/json" || type.endsWith("+json");
}

function invalid(problems: Problem[]): HeraldError {
  const summary = problems
    .slice(0, 5)
    .map((p) => `${p.index === undefined ? "" : `event[${p.index}].`}${p.attribute}: ${p.rule}`)
    .join("; ");
  return new HeraldError("InvalidEvent", `invalid event: ${summary}`, { problems });
}

/** A `%` that starts no `%XX` escape. */
const BARE_PERCENT = /%(?![0-9A-Fa-f]{2})/g;

/**
 * HTTP binding 3.1.3.2: header values are percent-decoded, and escapes that decode to invalid UTF-8
 * are rejected. A `%` that starts no escape is kept as it is: senders that do not percent-encode
 * (the CloudEvents JavaScript, Go and Java SDKs) send a value such as `100%` unchanged. Raw bytes
 * above 0x7F (Node reads header values as Latin-1) are read as the UTF-8 they must be, and rejected
 * when they are not UTF-8.
 */
function percentDecode(value: string): string | undefined {
  let text = value;
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) > 0x7f) {
      try {
        text = utf8.decode(Buffer.from(value, "latin1"));
      } catch {
        return undefined;
      }
      break;
    }
  }
  if (!text.includes("%")) return text;
  try {
    return decodeURIComponent(text.replace(BARE_PERCENT, "%25"));
  } catch {
    return undefined;
  }
}

/** HTTP binding 3.1.3.2: space, double quote, percent and anything outside printable ASCII are percent-encoded. */
function percentEncode(value: string): string {
  let plain = true;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code <= 0x20 || code >= 0x7f || code === 0x22 || code === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return value;
  let out = "";
  for (const char of value) {
    const code = char.codePointAt(0)!;
    if (code <= 0x20 || code >= 0x7f || code === 0x22 || code === 0x25) {
      for (const byte of Buffer.from(char, "utf8"))
        out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
    } else out += char;
  }
  return out;
}

function parseBinary(headers: Headers, body: Buffer): CloudEvent {
  const attributes: Record<string, AttributeValue> = {};
  const problems: Problem[] = [];
  for (const name of Object.keys(headers)) {
    if (!name.startsWith("ce-")) continue;
    const attribute = name.slice(3);
    const value = headers[name];
    if (value === undefined) continue;
    if (isRepeated(value)) {
      problems.push({ attribute, rule: `the ${name} header is repeated; send each attribute once` });
      continue;
    }
    // Checked before it is used as a key: `__proto__` would set the object's prototype instead.
    if (!ATTRIBUTE_NAME.test(attribute)) {
      problems.push({ attribute, rule: "attribute names must be lowercase letters a-z and digits 0-9" });
      continue;
    }
    const decoded = percentDecode(headerValue(value)!);
    if (decoded === undefined)
      problems.push({ attribute, rule: "header value is not valid percent-encoded UTF-8" });
    else attributes[attribute] = decoded;
  }
  const contentType = headers["content-type"];
  if (isRepeated(contentType))
    problems.push({ attribute: "datacontenttype", rule: "the content-type header is repeated" });
  else {
    const value = headerValue(contentType);
    if (value) attributes.datacontenttype = value;
  }
  problems.push(...validateAttributes(attributes));
  if (problems.length > 0) throw invalid(problems);
  return { attributes, data: body.length > 0 ? body : undefined };
}

/** Builds an event from its JSON event format object (JSON format 3). */
export function fromStructuredJson(input: unknown, index?: number): CloudEvent {
  const at = (problem: Problem): Problem => (index === undefined ? problem : { ...problem, index });
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw invalid([at({ attribute: "(event)", rule: "must be a JSON object" })]);
  }
  const { data, data_base64: dataBase64, ...rest } = input as Record<string, unknown>;
  const problems = validateAttributes(rest).map(at);
  let bytes: Buffer | undefined;
  const attributes = rest as Record<string, AttributeValue>;
  if (data !== undefined && dataBase64 !== undefined) {
    problems.push(at({ attribute: "data_base64", rule: "data and data_base64 must not both be present" }));
  } else if (dataBase64 !== undefined) {
    if (
      typeof dataBase64 !== "string" ||
      !/^[A-Za-z0-9+/]*={0,2}$/.test(dataBase64) ||
      dataBase64.length % 4 === 1
    ) {
      problems.push(at({ attribute: "data_base64", rule: "must be a base64 string" }));
    } else bytes = Buffer.from(dataBase64, "base64");
  } else if (data !== undefined && data !== null) {
    const contentType =
      typeof attributes.datacontenttype === "string" ? attributes.datacontenttype : undefined;
    if (isJsonContentType(contentType)) {
      bytes = Buffer.from(JSON.stringify(data));
      if (contentType === undefined) attributes.datacontenttype = "application/json";
    } else {
      bytes = Buffer.from(typeof data === "string" ? data : JSON.stringify(data));
    }
  }
  if (problems.length > 0) throw invalid(problems);
  return { attributes, data: bytes };
}

function bodyProblem(rule: string): HeraldError {
  return new HeraldError("InvalidEvent", `request body ${rule}`, {
    problems: [{ attribute: "(body)", rule }],
  });
}

/**
 * How deeply `body` nests JSON objects and arrays, counted in one pass over its bytes (brackets in
 * strings do not count). Stops counting past `limit`.
 */
function jsonDepth(body: Buffer, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const byte = body[i]!;
    if (inString) {
      if (byte === 0x5c)
        i++; // backslash: the next byte is escaped
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) inString = true;
    else if (byte === 0x5b || byte === 0x7b) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (byte === 0x5d || byte === 0x7d) depth--;
  }
  return deepest;
}

/** Parses a structured or batched body: strict UTF-8, at most MAX_JSON_DEPTH levels, then JSON. */
function parseJson(body: Buffer): unknown {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw bodyProblem("is not valid UTF-8");
  }
  if (jsonDepth(body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH)
    throw bodyProblem(`nests JSON deeper than ${MAX_JSON_DEPTH} levels`);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw bodyProblem(`is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * Reads the events of one HTTP request (or response) in whichever content mode it uses.
 * Throws InvalidEvent (400) naming every attribute and rule broken, UnsupportedMediaType (415)
 * for a structured format other than JSON, PayloadTooLarge (413) for a batch of more than
 * `limits.maxBatchEvents` events. A batch is all or nothing. Any other failure while reading the
 * input is the input's fault too: InvalidEvent, never an internal error.
 */
export function parseHttpEvents(
  headers: Headers,
  body: Buffer,
  limits: ParseLimits = {},
): { events: CloudEvent[]; mode: ContentMode } {
  try {
    return parseEvents(headers, body, limits);
  } catch (error) {
    if (error instanceof HeraldError) throw error;
    throw bodyProblem(`cannot be read as events: ${(error as Error).message}`);
  }
}

function parseEvents(
  headers: Headers,
  body: Buffer,
  limits: ParseLimits,
): { events: CloudEvent[]; mode: ContentMode } {
  const contentType = headerValue(headers["content-type"]);
  const type = mediaType(contentType);
  if (type.startsWith(BATCH)) {
    if (type !== `${BATCH}+json`)
      throw new HeraldError("UnsupportedMediaType", `unsupported batch format ${type}; use ${BATCH}+json`);
    const parsed = parseJson(body);
    if (!Array.isArray(parsed))
      throw invalid([{ attribute: "(body)", rule: "a batch must be a JSON array of events" }]);
    const maxEvents = limits.maxBatchEvents ?? DEFAULT_MAX_BATCH_EVENTS;
    if (parsed.length > maxEvents) {
      throw new HeraldError(
        "PayloadTooLarge",
        `a batch of ${parsed.length} events exceeds the limit of ${maxEvents} events per request`,
      );
    }
    const events: CloudEvent[] = [];
    const problems: Problem[] = [];
    parsed.forEach((item, index) => {
      try {
        events.push(fromStructuredJson(item, index));
      } catch (error) {
        if (!(error instanceof HeraldError)) throw error;
        problems.push(...(error.details as { problems: Problem[] }).problems);
      }
    });
    if (problems.length > 0) throw invalid(problems);
    return { events, mode: "batch" };
  }
  if (type.startsWith(STRUCTURED)) {
    if (type !== `${STRUCTURED}+json`) {
      throw new HeraldError(
        "UnsupportedMediaType",
        `unsupported event format ${type}; use ${STRUCTURED}+json`,
      );
    }
    return { events: [fromStructuredJson(parseJson(body))], mode: "structured" };
  }
  if (headers["ce-specversion"] === undefined) {
    throw invalid([
      {
        attribute: "specversion",
        rule: "not a CloudEvent: no ce-specversion header (binary mode) and no application/cloudevents+json content type",
      },
    ]);
  }
  return { events: [parseBinary(headers, body)], mode: "binary" };
}

/** Binary content mode (HTTP binding 3.1): attributes as `ce-` headers, data as the body. */
export function toBinaryHttp(event: CloudEvent): {
  headers: Record<string, string>;
  body: Buffer | undefined;
} {
  const headers: Record<string, string> = {};
  for (const name in event.attributes) {
    const value = String(event.attributes[name]);
    if (name === "datacontenttype") headers["content-type"] = value;
    else headers[`ce-${name}`] = percentEncode(value);
  }
  return { headers, body: event.data };
}

/** Structured content mode (HTTP binding 3.2): the event in the JSON event format as the body. */
export function toStructuredHttp(event: CloudEvent): { headers: Record<string, string>; body: Buffer } {
  return {
    headers: { "content-type": "application/cloudevents+json; charset=utf-8" },
    body: Buffer.from(JSON.stringify(toStructuredJson(event))),
  };
}

/** JSON event format: data as a JSON value for JSON types, a string for text, else data_base64. */
export function toStructuredJson(event: CloudEvent): Record<string, unknown> {
  const out: Record<string, unknown> = { ...event.attributes };
  if (!event.data) return out;
  const contentType =
    typeof event.attributes.datacontenttype === "string" ? event.attributes.datacontenttype : undefined;
  if (isJsonContentType(contentType)) {
    try {
      out.data = JSON.parse(event.data.toString("utf8"));
      return out;
    } catch {
      // Not JSON after all: fall through to base64.
    }
  } else if (mediaType(contentType).startsWith("text/")) {
    out.data = event.data.toString("utf8");
    return out;
  }
  out.data_base64 = event.data.toString("base64");
  return out;
}

export function toBatchBody(events: readonly CloudEvent[]): Buffer {
  return Buffer.from(JSON.stringify(events.map(toStructuredJson)));
}

/**
 * A subscriber's reply (Knative data plane: an event in a 2xx response). Undefined when the
 * response carries no event; throws InvalidEvent when it carries a malformed one.
 */
export function parseHttpReply(status: number, headers: Headers, body: Buffer): CloudEvent | undefined {
  if (status < 200 || status > 299) return undefined;
  const type = mediaType(headerValue(headers["content-type"]));
  if (headers["ce-specversion"] === undefined && !type.startsWith(STRUCTURED)) return undefined;
  const { events } = parseHttpEvents(headers, body);
  return events[0];
}
