import type { ChannelAdapter, ChannelTarget, PublishOptions } from "../../adapters/adapter.js";
import type { CloudEvent } from "../events/event.js";
import type { IngressTarget } from "../ingress/ingress.js";
import type { DeliverySpec } from "../resources/common.js";
import { limitTtl, withTtl } from "./brokers.js";

/** A backing channel running on its adapter: what ingress publishes to and subscriptions consume. */
export interface ChannelRuntime {
  /** `kind/namespace/name`: two kinds with the same name are two runtimes, never one. */
  readonly key: string;
  /** `namespace/name`: the channel's ingress address, held by one runtime at a time. */
  readonly address: string;
  readonly kind: string;
  readonly uid: string;
  readonly adapter: ChannelAdapter;
  readonly target: ChannelTarget;
  readonly delivery: DeliverySpec | undefined;
  /** The spec the backend topology was last created from. */
  readonly specJson: string;
  ready: boolean;
  /** Why the backend is not ready. */
  message: string | undefined;
  /** The backend's reason for it, when it gives one (Kafka's TopicNotPresentOrInvalid). */
  reason?: string | undefined;
  /** Backend facts shown in status (topic name...). */
  facts: Record<string, string | number>;
}

export function runtimeKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

export function addressKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/**
 * The running channels of one Herald, by kind and name and by ingress address. Ingress looks an
 * address up per request in O(1); the publish deadline is applied here, once for every backend.
 */
export class ChannelDirectory {
  private readonly byKey = new Map<string, ChannelRuntime>();
  private readonly byAddress = new Map<
    string,
    { runtime: ChannelRuntime; channel: IngressTarget; broker: IngressTarget }
  >();

  constructor(private readonly publishTimeoutMs: number) {}

  get(key: string): ChannelRuntime | undefined {
    return this.byKey.get(key);
  }

  /** The runtime holding an address, if any. */
  atAddress(namespace: string, name: string): ChannelRuntime | undefined {
    return this.byAddress.get(addressKey(namespace, name))?.runtime;
  }

  /**
   * Adds or replaces a runtime. Refuses (returns the holder) when another kind already holds the
   * address: the first channel keeps it, the second is reported, neither is torn down.
   */
  set(runtime: ChannelRuntime): ChannelRuntime | undefined {
    const holder = this.byAddress.get(runtime.address)?.runtime;
    if (holder && holder.key !== runtime.key) return holder;
    this.byKey.set(runtime.key, runtime);
    this.byAddress.set(runtime.address, {
      runtime,
      channel: this.ingressTarget(runtime, limitTtl),
      broker: this.ingressTarget(runtime, withTtl),
    });
    return undefined;
  }

  delete(runtime: ChannelRuntime): void {
    this.byKey.delete(runtime.key);
    if (this.byAddress.get(runtime.address)?.runtime === runtime) this.byAddress.delete(runtime.address);
  }

  values(): IterableIterator<ChannelRuntime> {
    return this.byKey.values();
  }

  /** Ingress's lookup: a channel address, or a Broker's (its trigger channel); both limit the TTL. */
  lookup(kind: "channels" | "brokers", namespace: string, channelName: string): IngressTarget | undefined {
    const entry = this.byAddress.get(addressKey(namespace, channelName));
    if (!entry) return undefined;
    return kind === "brokers" ? entry.broker : entry.channel;
  }

  private ingressTarget(
    runtime: ChannelRuntime,
    prepare: (events: readonly CloudEvent[]) => readonly CloudEvent[],
  ): IngressTarget {
    const timeoutMs = this.publishTimeoutMs;
    return {
      get ready() {
        return runtime.ready;
      },
      get message() {
        return runtime.message;
      },
      publish: async (events) => {
        const deadline = new PublishDeadline(timeoutMs);
        try {
          return await runtime.adapter.publish(runtime.target, prepare(events), deadline);
        } finally {
          deadline.dispose();
        }
      },
    };
  }
}

/**
 * A publish's deadline: its time, and a signal aborted then, created on first read (with its timer,
 * cleared once the backend answered: an AbortSignal.timeout per publish would stay armed and fire
 * after every event). An adapter that compares `deadline` costs no AbortController per publish.
 */
class PublishDeadline implements PublishOptions {
  readonly deadline: number;
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(timeoutMs: number) {
    this.deadline = performance.now() + timeoutMs;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      const controller = new AbortController();
      this.controller = controller;
      const left = this.deadline - performance.now();
      if (left <= 0) controller.abort();
      else this.timer = setTimeout(() => controller.abort(), left);
    }
    return this.controller.signal;
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}
