import { randomUUID } from "node:crypto";
import { pino } from "pino";
import type { ChannelAdapter, ChannelTarget, SubscriptionTarget } from "../../../adapters/adapter.js";
import { pubsubChannelAdapter } from "../../../adapters/pubsub/index.js";
import { loadConfig } from "../../../src/config.js";
import type { CloudEvent } from "../../../src/events/event.js";
import { pubsubChannelSpecSchema } from "../../../src/resources/pubsub-channel.js";

export const PROJECT = "herald-test";

export function createAdapter(emulatorHost: string): ChannelAdapter {
  const config = loadConfig({ pubsub: { emulatorHost, projectId: PROJECT } }, {});
  return pubsubChannelAdapter.create({ config, logger: pino({ level: "silent" }) });
}

export function suffix(): string {
  return randomUUID().slice(0, 8);
}

export function channelTarget(spec: Record<string, unknown> = {}): ChannelTarget {
  return {
    namespace: "default",
    name: `ch-${suffix()}`,
    uid: randomUUID(),
    spec: pubsubChannelSpecSchema.parse(spec),
  };
}

export function subscriptionTarget(
  ordering: SubscriptionTarget["ordering"] = "unordered",
  maxInFlight = 10,
): SubscriptionTarget {
  return { namespace: "default", name: `sub-${suffix()}`, uid: randomUUID(), ordering, maxInFlight };
}

export function testEvent(id: string, extensions: Record<string, string> = {}): CloudEvent {
  return {
    attributes: {
      specversion: "1.0",
      id,
      source: "/test/pubsub",
      type: "dev.herald.test",
      datacontenttype: "text/plain",
      ...extensions,
    },
    data: Buffer.from(`payload of ${id}`),
  };
}

/** A promise with its resolve function, for handlers that wait for the test to let them finish. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}
