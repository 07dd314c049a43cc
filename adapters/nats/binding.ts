import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";
import type { AttributeValue, CloudEvent } from "../../src/events/event.js";
import { fromStructuredJson } from "../../src/events/http.js";
import { validateAttributes } from "../../src/events/validate.js";

/**
 * CloudEvents NATS protocol binding 1.0 (cloudevents/spec `bindings/nats-protocol-binding.md`).
 *
 * Writing: binary content mode (3.1): every attribute, datacontenttype included, is a `ce-{name}`
 * header (3.1.3.1) holding its canonical string, percent-encoded (3.1.3.2); the data is the payload.
 * Reading: a `Content-Type` of `application/cloudevents...` means structured mode (3), read with
 * the JSON event format; otherwise `ce-` headers (any case, quoted strings unescaped, then one round
 * of strict UTF-8 percent-decoding) make a binary-mode event, taking `Content-Type` as datacontenttype
 * when `ce-datacontenttype` is absent (some SDKs write it there). A message with neither is read as a
 * structured JSON event, as senders without headers (before NATS 2.2, Knative's eventing-natss
 * dispatcher) write them. Anything else is not a CloudEvent: a string says why.
 */
export const PREFIX = "ce-";

/** 3.1.3.2: space, `"`, `%` and everything outside printable ASCII (U+0021-U+007E) is encoded. */
const NEEDS_ENCODING = /[^\x21\x23\x24\x26-\x7e]/;
const HEX = /^[0-9A-Fa-f]{2}$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

export function percentEncode(value: string): string {
  if (!NEEDS_ENCODING.test(value)) return value;
  let out = "";
  for (const char of value) {
    if (!NEEDS_ENCODING.test(char)) {
      out += char;
      continue;
    }
    for (const byte of Buffer.from(char, "utf8"))
      out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * 3.1.3.2 decoding: a double-quoted value is unquoted first (RFC 7230 3.2.6, backslash escapes), then
 * percent-decoded once. Undefined when the bytes are not valid UTF-8 (overlong forms included). A
 * `%` not followed by two hex digits is kept as it is.
 */
export function percentDecode(raw: string): string | undefined {
  let value = raw.trim();
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"'))
    value = value.slice(1, -1).replace(/\\(.)/g, "$1");
  if (!value.includes("%")) return value;
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const hex = value.slice(i + 1, i + 3);
    if (value[i] === "%" && HEX.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      const code = value.codePointAt(i)!;
      if (code > 0xffff) i++;
      bytes.push(...Buffer.from(String.fromCodePoint(code), "utf8"));
    }
  }
  try {
    return utf8.decode(Uint8Array.from(bytes));
  } catch {
    return undefined;
  }
}

/** The binary-mode message of an event: its `ce-` headers and its data as the payload. */
export function toNatsMessage(event: CloudEvent): { headers: MsgHdrs; data: Uint8Array } {
  const headers = natsHeaders();
  for (const name in event.attributes)
    headers.set(`${PREFIX}${name}`, percentEncode(String(event.attributes[name])));
  return { headers, data: event.data ?? EMPTY };
}

const EMPTY = new Uint8Array(0);

/** Reads a delivered message; a string explains why it is not a CloudEvent. */
export function fromNatsMessage(headers: MsgHdrs | undefined, data: Uint8Array): CloudEvent | string {
  const payload = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let contentType: string | undefined;
  let attributes: Record<string, AttributeValue> | undefined;
  for (const key of headers?.keys() ?? []) {
    const name = key.toLowerCase();
    if (name === "content-type") {
      contentType = headers!.get(key);
      continue;
    }
    if (!name.startsWith(PREFIX) || name.length === PREFIX.length) continue;
    const value = percentDecode(headers!.get(key));
    if (value === undefined) return `header ${key} is not valid percent-encoded UTF-8: not a CloudEvent`;
    (attributes ??= {})[name.slice(PREFIX.length)] = value;
  }
  if (contentType?.toLowerCase().startsWith("application/cloudevents")) return structured(payload);
  if (!attributes) {
    const event = structured(payload);
    return typeof event === "string"
      ? "message has no ce-specversion header, and its payload is not a JSON CloudEvent"
      : event;
  }
  if (attributes.specversion === undefined) return "message has no ce-specversion header: not a CloudEvent";
  if (attributes.datacontenttype === undefined && contentType) attributes.datacontenttype = contentType;
  const problems = validateAttributes(attributes);
  if (problems.length > 0)
    return `not a valid CloudEvent: ${problems.map((p) => `${p.attribute}: ${p.rule}`).join("; ")}`;
  return { attributes, data: payload.length > 0 ? payload : undefined };
}

/** Structured content mode (3.2), JSON event format. */
function structured(payload: Buffer): CloudEvent | string {
  try {
    return fromStructuredJson(JSON.parse(payload.toString("utf8")));
  } catch (error) {
    return `structured-mode message is not a valid CloudEvent: ${(error as Error).message}`;
  }
}
