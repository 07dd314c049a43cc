import { randomUUID } from "node:crypto";
import type { SubscriptionTarget } from "../../adapters/adapter.js";
import type { AttributeValue, CloudEvent } from "../../src/events/event.js";

/** A JSON CloudEvent with the given id (its data names the id too) and any extra attributes. */
export function testEvent(id: string, extra: Record<string, AttributeValue> = {}): CloudEvent {
  return {
    attributes: {
      specversion: "1.0",
      id,
      source: "/test",
      type: "t",
      datacontenttype: "application/json",
      ...extra,
    },
    data: Buffer.from(JSON.stringify({ id })),
  };
}

/** A subscription target with a fresh uid, as the control plane hands one to an adapter. */
export function testSubscription(
  name: string,
  ordering: "ordered" | "unordered" = "unordered",
  maxInFlight = 10,
): SubscriptionTarget {
  return { namespace: "default", name, uid: randomUUID(), ordering, maxInFlight };
}
