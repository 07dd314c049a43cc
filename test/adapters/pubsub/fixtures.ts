import { randomUUID } from "node:crypto";
import { pino } from "pino";
import type {
  ChannelAdapter,
  ChannelTarget,
  PublishOptions,
  SubscriptionTarget,
} from "../../../adapters/adapter.js";
import { pubsubConfigSchema } from "../../../adapters/pubsub/config.js";
import { pubsubChannelPlugin } from "../../../adapters/pubsub/index.js";
import { pubsubChannelSpecSchema, type PubSubChannelSpec } from "../../../adapters/pubsub/spec.js";
import type { CloudEvent } from "../../../src/events/event.js";

export const PROJECT = "herald-test";

export function createAdapter(emulatorHost: string): ChannelAdapter {
  const config = pubsubConfigSchema.parse({ emulatorHost, projectId: PROJECT });
  return pubsubChannelPlugin.create({ config, logger: pino({ level: "silent" }) });
}

/** The caller's deadline of one publish, as ingress sets it. */
export function deadline(ms = 10_000): PublishOptions {
  return { signal: AbortSignal.timeout(ms) };
}

export function suffix(): string {
  return randomUUID().slice(0, 8);
}

/** A channel as the control plane hands it over: the spec parsed and defaulted at apply. */
export function channelTarget(spec: Record<string, unknown> = {}): ChannelTarget<PubSubChannelSpec> {
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
