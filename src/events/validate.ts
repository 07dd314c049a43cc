/**
 * CloudEvents 1.0 context attribute rules (spec section 3), checked once per event at ingress.
 * Precompiled patterns only; no schema validator on the hot path.
 */
export interface Problem {
  attribute: string;
  rule: string;
  /** The event's position in a batch. */
  index?: number;
}

/**
 * Attribute names: lowercase a-z and 0-9 (section 3.1.1). The specification's advice to keep names
 * within 20 characters binds whoever names an extension; Herald accepts longer names.
 */
export const ATTRIBUTE_NAME = /^[a-z0-9]+$/;
/** RFC 3339 timestamp (section 3.1.1, Timestamp). */
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
/** RFC 9110 5.6.2 token. */
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
/** RFC 9110 5.6.4 quoted-string, printable ASCII only (no obs-text): always a valid header value. */
const QUOTED_STRING = '"(?:[\\t !#-\\[\\]-~]|\\\\[\\t -~])*"';
/**
 * RFC 9110 8.3.1 media type: `type/subtype`, then `; name=value` parameters whose values are tokens
 * or quoted strings. Anything else (CR, LF, NUL, non-ASCII...) could not be sent as `content-type`.
 */
const MEDIA_TYPE = new RegExp(
  `^${TOKEN}/${TOKEN}(?:[ \\t]*;[ \\t]*${TOKEN}=(?:${TOKEN}|${QUOTED_STRING}))*$`,
);
/**
 * W3C Trace Context `traceparent`: version, trace-id, parent-id and flags in lowercase hex; the
 * all-zero ids and version ff are invalid; a later version may append `-` and more printable ASCII.
 */
const TRACEPARENT =
  /^(?!ff)([0-9a-f]{2})-(?!0{32}-)[0-9a-f]{32}-(?!0{16}-)[0-9a-f]{16}-[0-9a-f]{2}(-[!-~]*)?$/;
/** An unpaired UTF-16 surrogate: not a Unicode character, it cannot be encoded as UTF-8. */
const LONE_SURROGATE = /\p{Cs}/u;
/** A URI scheme (RFC 3986 section 3.1), for absolute URIs. */
const ABSOLUTE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:\S*$/;
const INTEGER_MIN = -2147483648;
const INTEGER_MAX = 2147483647;

function isNonEmptyString(value: unknown): value is string {
  return typeof value === "string" && value.length > 0;
}

/** Whether `value` is a W3C `traceparent` (Trace Context 3.2), sendable as the HTTP header as it is. */
export function isTraceparent(value: string): boolean {
  const match = TRACEPARENT.exec(value);
  // Version 00 has exactly four fields.
  return match !== null && !(match[1] === "00" && match[2] !== undefined);
}

/**
 * Checks an event's attributes (required, optional and extensions). `data` and `data_base64` are
 * not attributes and must have been taken out by the caller.
 */
export function validateAttributes(attributes: Record<string, unknown>): Problem[] {
  const problems: Problem[] = [];
  const { specversion, id, source, type } = attributes;
  if (specversion === undefined)
    problems.push({ attribute: "specversion", rule: "required attribute is missing" });
  else if (specversion !== "1.0") problems.push({ attribute: "specversion", rule: 'must be "1.0"' });
  if (id === undefined) problems.push({ attribute: "id", rule: "required attribute is missing" });
  else if (!isNonEmptyString(id)) problems.push({ attribute: "id", rule: "must be a non-empty string" });
  if (source === undefined) problems.push({ attribute: "source", rule: "required attribute is missing" });
  else if (!isNonEmptyString(source) || /\s/.test(source))
    problems.push({ attribute: "source", rule: "must be a non-empty URI-reference" });
  if (type === undefined) problems.push({ attribute: "type", rule: "required attribute is missing" });
  else if (!isNonEmptyString(type)) problems.push({ attribute: "type", rule: "must be a non-empty string" });

  for (const [name, value] of Object.entries(attributes)) {
    // CloudEvents String (section 3.1.1): a sequence of Unicode characters, which a lone surrogate is not.
    if (typeof value === "string" && LONE_SURROGATE.test(value)) {
      problems.push({ attribute: name, rule: "must be valid Unicode (it holds an unpaired surrogate)" });
      continue;
    }
    switch (name) {
      case "specversion":
      case "id":
      case "source":
      case "type":
        continue;
      case "datacontenttype":
        if (typeof value !== "string" || !MEDIA_TYPE.test(value))
          problems.push({
            attribute: name,
            rule: "must be a media type (type/subtype, then ; name=value parameters whose values are tokens or quoted strings)",
          });
        continue;
      case "traceparent":
        // CloudEvents Distributed Tracing extension: sent on as the W3C `traceparent` header.
        if (typeof value !== "string" || !isTraceparent(value))
          problems.push({
            attribute: name,
            rule: "must be a W3C traceparent (00-{32 hex trace-id}-{16 hex parent-id}-{2 hex flags})",
          });
        continue;
      case "dataschema":
        if (typeof value !== "string" || !ABSOLUTE_URI.test(value))
          problems.push({ attribute: name, rule: "must be an absolute URI" });
        continue;
      case "subject":
        if (!isNonEmptyString(value)) problems.push({ attribute: name, rule: "must be a non-empty string" });
        continue;
      case "time":
        if (typeof value !== "string" || !TIMESTAMP.test(value) || Number.isNaN(Date.parse(value)))
          problems.push({ attribute: name, rule: "must be an RFC 3339 timestamp" });
        continue;
      case "data":
      case "data_base64":
        problems.push({ attribute: name, rule: "is reserved and cannot be an extension attribute" });
        continue;
    }
    if (!ATTRIBUTE_NAME.test(name)) {
      problems.push({
        attribute: name,
        rule: "attribute names must be lowercase letters a-z and digits 0-9",
      });
      continue;
    }
    if (typeof value === "string" || typeof value === "boolean") continue;
    if (typeof value === "number" && Number.isInteger(value) && value >= INTEGER_MIN && value <= INTEGER_MAX)
      continue;
    problems.push({
      attribute: name,
      rule:
        typeof value === "number"
          ? "must be an integer within the CloudEvents Integer range"
          : "extension values must be a string, boolean or integer",
    });
  }
  return problems;
}
