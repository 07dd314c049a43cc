import type { AttributeValue, CloudEvent } from "../../src/events/event.js";

/**
 * The CloudEvents Pub/Sub protocol binding (cloudevents/spec pubsub-protocol-binding.md), binary
 * content mode: every context attribute becomes a message attribute prefixed with `ce-` (3.1.3.1)
 * holding its canonical string form (3.1.3.2), `datacontenttype` travels as the `content-type`
 * attribute (3.1.1) and the data is the message payload as-is (3.1.2).
 */
export interface PubSubMessageParts {
  readonly data: Buffer;
  readonly attributes: Record<string, string>;
}

const CONTENT_TYPE = "content-type";
const PREFIX = "ce-";
const EMPTY = Buffer.alloc(0);

export function encodeEvent(event: CloudEvent): PubSubMessageParts {
  const attributes: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.attributes)) {
    if (name === "datacontenttype") attributes[CONTENT_TYPE] = String(value);
    else attributes[PREFIX + name] = String(value);
  }
  return { data: event.data ?? EMPTY, attributes };
}

export type DecodeResult = { event: CloudEvent; reason?: undefined } | { event?: undefined; reason: string };

const REQUIRED = ["specversion", "id", "source", "type"] as const;

/**
 * Reads a Pub/Sub message as a CloudEvent: structured mode when `content-type` starts with
 * `application/cloudevents` (section 3), binary mode otherwise. Attribute names are
 * case-insensitive (3.1.3.1). Returns the reason when the message is not a CloudEvent.
 */
export function decodeMessage(
  data: Buffer,
  messageAttributes: Readonly<Record<string, string>>,
): DecodeResult {
  const attributes: Record<string, AttributeValue> = {};
  let contentType: string | undefined;
  for (const [rawName, value] of Object.entries(messageAttributes)) {
    const name = rawName.toLowerCase();
    if (name === CONTENT_TYPE) contentType = value;
    else if (name.startsWith(PREFIX) && name.length > PREFIX.length)
      attributes[name.slice(PREFIX.length)] = value;
  }
  if (contentType?.toLowerCase().startsWith("application/cloudevents"))
    return decodeStructured(data, contentType);
  if (contentType !== undefined && attributes.datacontenttype === undefined)
    attributes.datacontenttype = contentType;
  const missing = REQUIRED.filter((name) => !attributes[name]);
  if (missing.length > 0) {
    return {
      reason: `not a CloudEvent: missing Pub/Sub attribute${missing.length > 1 ? "s" : ""} ${missing.map((m) => PREFIX + m).join(", ")}`,
    };
  }
  if (attributes.specversion !== "1.0") {
    return { reason: `unsupported CloudEvents specversion ${String(attributes.specversion)}` };
  }
  return { event: { attributes, data: data.length > 0 ? data : undefined } };
}

function decodeStructured(data: Buffer, contentType: string): DecodeResult {
  if (!/^application\/cloudevents\+json\b/i.test(contentType)) {
    return { reason: `unsupported CloudEvents event format ${contentType}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString("utf8"));
  } catch (error) {
    return { reason: `structured CloudEvent is not valid JSON: ${(error as Error).message}` };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return { reason: "structured CloudEvent is not a JSON object" };
  }
  const attributes: Record<string, AttributeValue> = {};
  let eventData: Buffer | undefined;
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === "data") {
      // JSON event format 3.1: non-JSON media types carry data as a JSON string.
      const isJson =
        typeof (parsed as { datacontenttype?: unknown }).datacontenttype !== "string" ||
        /[/+]json\b/i.test((parsed as { datacontenttype: string }).datacontenttype);
      eventData = Buffer.from(typeof value === "string" && !isJson ? value : JSON.stringify(value));
    } else if (name === "data_base64") {
      if (typeof value === "string") eventData = Buffer.from(value, "base64");
    } else if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
      attributes[name] = value;
    }
  }
  const missing = REQUIRED.filter((name) => attributes[name] === undefined || attributes[name] === "");
  if (missing.length > 0) return { reason: `structured CloudEvent misses ${missing.join(", ")}` };
  if (attributes.specversion !== "1.0") {
    return { reason: `unsupported CloudEvents specversion ${String(attributes.specversion)}` };
  }
  return { event: { attributes, data: eventData } };
}
