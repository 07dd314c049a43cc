import type { Logger } from "pino";
import type { ChannelAdapter, ChannelTarget } from "../../adapters/adapter.js";
import type { Resource } from "../resources/common.js";
import type { DeliverySpec } from "../resources/common.js";

/** A backing channel running on its adapter: what ingress publishes to and subscriptions consume. */
export interface ChannelRuntime {
  readonly key: string;
  readonly kind: string;
  readonly uid: string;
  readonly adapter: ChannelAdapter;
  readonly target: ChannelTarget;
  readonly delivery: DeliverySpec | undefined;
  /** The spec the backend topology was last created from. */
  readonly specJson: string;
  ready: boolean;
  /** Why the backend is not ready, or its facts (topic name...) when it is. */
  message: string | undefined;
  facts: Record<string, string | number>;
}

export function channelKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** Creates (or re-creates after a spec change or a failure) the backend topology of a channel. */
export async function ensureChannel(
  resource: Resource,
  adapter: ChannelAdapter,
  previous: ChannelRuntime | undefined,
  logger: Logger,
): Promise<ChannelRuntime> {
  const { namespace, name, uid } = resource.metadata;
  const specJson = JSON.stringify(resource.spec);
  if (previous && previous.ready && previous.specJson === specJson && previous.uid === uid) return previous;
  const runtime: ChannelRuntime = {
    key: channelKey(namespace, name),
    kind: resource.kind,
    uid,
    adapter,
    target: { namespace, name, uid, spec: resource.spec },
    delivery: resource.spec.delivery as DeliverySpec | undefined,
    specJson,
    ready: false,
    message: undefined,
    facts: {},
  };
  try {
    runtime.facts = { ...(await adapter.createChannel(runtime.target)) };
    runtime.ready = true;
  } catch (error) {
    runtime.message = error instanceof Error ? error.message : String(error);
    logger.warn(
      { channel: runtime.key, kind: resource.kind, err: runtime.message },
      "channel backend not ready",
    );
  }
  return runtime;
}
