import type { ConsumeMessage, Options } from "amqplib";
import type { AttributeValue, CloudEvent } from "../../src/events/event.js";
import { fromStructuredJson } from "../../src/events/http.js";
import { validateAttributes } from "../../src/events/validate.js";

/**
 * CloudEvents AMQP protocol binding 1.0, binary content mode, on AMQP 0-9-1. RabbitMQ's 0-9-1
 * has message headers where AMQP 1.0 has application-properties; attribute names use the
 * `cloudEvents_` prefix the binding allows (3.1.3.1), since `:` is awkward in many 0-9-1 clients
 * and JMS. datacontenttype is the `content-type` property; data is the body. Booleans and integers
 * keep their AMQP types. Structured mode (`application/cloudevents+json`) is read too.
 */
export const PREFIX = "cloudEvents_";
/** When Herald published the message (ms since the epoch): a stream replays from a time by it. */
export const ACCEPTED_HEADER = "herald_accepted";

export function toAmqpMessage(event: CloudEvent): { content: Buffer; options: Options.Publish } {
  const headers: Record<string, AttributeValue> = { [ACCEPTED_HEADER]: Date.now() };
  for (const name in event.attributes) {
    if (name !== "datacontenttype") headers[`${PREFIX}${name}`] = event.attributes[name]!;
  }
  const options: Options.Publish = { headers, persistent: true, messageId: String(event.attributes.id) };
  const contentType = event.attributes.datacontenttype;
  if (contentType !== undefined) options.contentType = String(contentType);
  return { content: event.data ?? Buffer.alloc(0), options };
}

/** Reads a delivered message; a string explains why it is not a CloudEvent. */
export function fromAmqpMessage(message: ConsumeMessage): CloudEvent | string {
  const { contentType, headers } = message.properties as {
    contentType?: unknown;
    headers?: Record<string, unknown>;
  };
  if (typeof contentType === "string" && contentType.startsWith("application/cloudevents+json")) {
    try {
      return fromStructuredJson(JSON.parse(message.content.toString("utf8")));
    } catch (error) {
      return `structured-mode message is not a valid CloudEvent: ${(error as Error).message}`;
    }
  }
  const attributes: Record<string, AttributeValue> = {};
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (!key.startsWith(PREFIX)) continue;
    const name = key.slice(PREFIX.length);
    if (typeof value === "string" || typeof value === "boolean" || typeof value === "number")
      attributes[name] = value;
    else if (Buffer.isBuffer(value)) attributes[name] = value.toString("utf8");
    else attributes[name] = String(value);
  }
  if (attributes.specversion === undefined)
    return `message has no ${PREFIX}specversion header: not a CloudEvent`;
  if (typeof contentType === "string") attributes.datacontenttype = contentType;
  const problems = validateAttributes(attributes);
  if (problems.length > 0)
    return `not a valid CloudEvent: ${problems.map((p) => `${p.attribute}: ${p.rule}`).join("; ")}`;
  return { attributes, data: message.content.length > 0 ? message.content : undefined };
}
