import type { IHeaders, KafkaMessage, Message } from "kafkajs";
import type { AttributeValue, CloudEvent } from "../../src/events/event.js";
import { fromStructuredJson } from "../../src/events/http.js";
import { validateAttributes } from "../../src/events/validate.js";

/**
 * CloudEvents Kafka protocol binding 1.0, binary content mode: attributes as `ce_` headers with
 * UTF-8 string values (3.2.3), datacontenttype as the `content-type` header, data as the value,
 * and the `partitionkey` extension as the record key (3.3). Structured mode
 * (`content-type: application/cloudevents+json`) is read too.
 */
export function toKafkaMessage(event: CloudEvent): Message {
  const headers: IHeaders = {};
  for (const name in event.attributes) {
    const value = String(event.attributes[name]);
    if (name === "datacontenttype") headers["content-type"] = value;
    else headers[`ce_${name}`] = value;
  }
  const key = event.attributes.partitionkey;
  return { key: key === undefined ? null : String(key), value: event.data ?? null, headers };
}

function headerString(value: IHeaders[string]): string | undefined {
  if (value === undefined) return undefined;
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : Buffer.isBuffer(first) ? first.toString("utf8") : String(first);
}

/** Reads a record; a string explains why it is not a CloudEvent. */
export function fromKafkaMessage(message: KafkaMessage): CloudEvent | string {
  const headers = message.headers ?? {};
  const contentType = headerString(headers["content-type"]);
  if (contentType?.startsWith("application/cloudevents+json")) {
    try {
      return fromStructuredJson(JSON.parse(message.value?.toString("utf8") ?? ""));
    } catch (error) {
      return `structured-mode record is not a valid CloudEvent: ${(error as Error).message}`;
    }
  }
  const attributes: Record<string, AttributeValue> = {};
  for (const name of Object.keys(headers)) {
    if (!name.startsWith("ce_")) continue;
    const value = headerString(headers[name]);
    if (value !== undefined) attributes[name.slice(3)] = value;
  }
  if (attributes.specversion === undefined) return "record has no ce_specversion header: not a CloudEvent";
  if (contentType) attributes.datacontenttype = contentType;
  const problems = validateAttributes(attributes);
  if (problems.length > 0)
    return `not a valid CloudEvent: ${problems.map((p) => `${p.attribute}: ${p.rule}`).join("; ")}`;
  return { attributes, data: message.value && message.value.length > 0 ? message.value : undefined };
}
