/**
 * Herald's in-process CloudEvent: the context attributes (required, optional and extensions, by their
 * CloudEvents names) and the data as raw bytes. Every protocol binding (HTTP, Kafka, AMQP, Pub/Sub)
 * converts to and from this shape, so adapters never re-parse JSON on the hot path.
 *
 * CloudEvents 1.0 type system: Boolean, Integer, String, Binary, URI, URI-reference, Timestamp.
 * Non-string types arrive as JS booleans/integers only from structured (JSON) mode; binary-mode
 * bindings carry every attribute as its canonical string encoding.
 */
export type AttributeValue = string | number | boolean;

export interface CloudEvent {
  /** specversion, id, source, type and every other attribute that is set. */
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  /** The event data as bytes, or undefined when the event carries no data. */
  readonly data?: Buffer | undefined;
}

/**
 * Reads an attribute as its canonical string form (CloudEvents 1.0 section 3.1.1). Only the event's
 * own attributes: a name such as `constructor` never reads Object.prototype.
 */
export function attributeString(event: CloudEvent, name: string): string | undefined {
  if (!Object.hasOwn(event.attributes, name)) return undefined;
  const value = event.attributes[name];
  return value === undefined ? undefined : String(value);
}

/** Returns a copy of the event with the given attributes set (undefined removes one). */
export function withAttributes(
  event: CloudEvent,
  changes: Readonly<Record<string, AttributeValue | undefined>>,
): CloudEvent {
  const attributes: Record<string, AttributeValue> = { ...event.attributes };
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) delete attributes[name];
    else attributes[name] = value;
  }
  return { attributes, data: event.data };
}
