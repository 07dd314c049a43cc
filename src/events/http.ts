import { HeraldError } from "../errors.js";
import type { AttributeValue, CloudEvent } from "./event.js";
import { validateAttributes, type Problem } from "./validate.js";

/** CloudEvents HTTP protocol binding 1.0: binary, structured and batched content modes. */
export type Headers = Readonly<Record<string, string | string[] | undefined>>;
export type ContentMode = "binary" | "structured" | "batch";

const STRUCTURED = "application/cloudevents";
const BATCH = "application/cloudevents-batch";

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(",") : value;
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
 * (the CloudEvents JavaScript, Go and Java SDKs) send a value such as `100%` unchanged.
 */
function percentDecode(value: string): string | undefined {
  if (!value.includes("%")) return value;
  try {
    return decodeURIComponent(value.replace(BARE_PERCENT, "%25"));
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
  for (const name in headers) {
    if (name.length <= 3 || !name.startsWith("ce-")) continue;
    const raw = headerValue(headers[name]);
    if (raw === undefined) continue;
    const decoded = percentDecode(raw);
    const attribute = name.slice(3);
    if (decoded === undefined)
      problems.push({ attribute, rule: "header value is not valid percent-encoded UTF-8" });
    else attributes[attribute] = decoded;
  }
  const contentType = headerValue(headers["content-type"]);
  if (contentType) attributes.datacontenttype = contentType;
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

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch (error) {
    throw new HeraldError("InvalidEvent", `request body is not valid JSON: ${(error as Error).message}`, {
      problems: [{ attribute: "(body)", rule: `not valid JSON: ${(error as Error).message}` }],
    });
  }
}

/**
 * Reads the events of one HTTP request (or response) in whichever content mode it uses.
 * Throws InvalidEvent (400) naming every attribute and rule broken, UnsupportedMediaType (415)
 * for a structured format other than JSON. A batch is all or nothing.
 */
export function parseHttpEvents(headers: Headers, body: Buffer): { events: CloudEvent[]; mode: ContentMode } {
  const contentType = headerValue(headers["content-type"]);
  const type = mediaType(contentType);
  if (type.startsWith(BATCH)) {
    if (type !== `${BATCH}+json`)
      throw new HeraldError("UnsupportedMediaType", `unsupported batch format ${type}; use ${BATCH}+json`);
    const parsed = parseJson(body);
    if (!Array.isArray(parsed))
      throw invalid([{ attribute: "(body)", rule: "a batch must be a JSON array of events" }]);
    const events: CloudEvent[] = [];
    const problems: Problem[] = [];
    parsed.forEach((item, index) => {
      try {
        events.push(fromStructuredJson(item, index));
      } catch (error) {
        problems.push(...((error as HeraldError).details as { problems: Problem[] }).problems);
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
