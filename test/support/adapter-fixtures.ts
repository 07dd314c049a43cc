import { randomUUID } from "node:crypto";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import type { DeliveryContext, EventHandler, SubscriptionTarget } from "../../adapters/adapter.js";
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

/** `prefix` plus a random suffix: a resource name no other test (or earlier run) uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** `count` event ids: `prefix-0`, `prefix-1`... */
export function testIds(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, index) => `${prefix}-${index}`);
}

/** A promise and the function that resolves it, for handlers that wait until the test lets them finish. */
export function gate(): { readonly promise: Promise<void>; readonly open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** One handler call a Recorder saw. */
export interface Call {
  readonly id: string;
  readonly event: CloudEvent;
  readonly context: DeliveryContext;
  readonly attempt: number;
  readonly startedAt: number;
  /** How many events had succeeded when this call started (an index into `Recorder.succeeded`). */
  readonly succeededBefore: number;
  settledAt?: number;
  outcome?: "resolved" | "rejected";
}

/**
 * A handler that records every call (what, when, how it ended) and the peak of concurrent calls;
 * `behaviour` decides each call's outcome (throw to reject).
 */
export class Recorder {
  readonly calls: Call[] = [];
  /** Ids in the order their handler calls resolved (with duplicates). */
  readonly succeeded: string[] = [];
  private readonly done = new Set<string>();
  private readonly attempts = new Map<string, number>();
  inFlight = 0;
  peak = 0;

  constructor(private readonly behaviour: (call: Call) => void | Promise<void> = () => undefined) {}

  readonly handler: EventHandler = async (event, context) => {
    const id = String(event.attributes.id);
    const attempt = (this.attempts.get(id) ?? 0) + 1;
    this.attempts.set(id, attempt);
    const call: Call = {
      id,
      event,
      context,
      attempt,
      startedAt: performance.now(),
      succeededBefore: this.succeeded.length,
    };
    this.calls.push(call);
    this.peak = Math.max(this.peak, ++this.inFlight);
    try {
      await this.behaviour(call);
      call.outcome = "resolved";
      this.succeeded.push(id);
      this.done.add(id);
    } catch (error) {
      call.outcome = "rejected";
      throw error;
    } finally {
      this.inFlight--;
      call.settledAt = performance.now();
    }
  };

  handled(id: string): boolean {
    return this.done.has(id);
  }

  handledAll(ids: readonly string[]): boolean {
    return ids.every((id) => this.done.has(id));
  }

  /** Ids in the order of their first successful call. */
  firstSuccesses(): string[] {
    return [...new Set(this.succeeded)];
  }

  callsOf(id: string): Call[] {
    return this.calls.filter((call) => call.id === id);
  }
}

/** Rejects when `work` has not settled within `ms`: for calls that must not hang. */
export async function within<T>(ms: number, work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A TCP server that accepts connections and never sends a byte: a backend that hangs. */
export async function startSilentServer(): Promise<{
  host: string;
  port: number;
  close: () => Promise<void>;
}> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    // The client giving up resets the connection; that is the expected end, not a failure.
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: "127.0.0.1",
    port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
