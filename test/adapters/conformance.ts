/**
 * The channel adapter conformance suite: the guarantees written in `adapters/adapter.ts`, checked
 * against a real backend. Like Knative's channel data-plane conformance
 * (knative/eventing test/rekt/features/channel/data_plane.go), it is one list of behaviours every
 * channel implementation is held to, and a backend proves itself with one call:
 *
 *   describeChannelAdapter(name, factory, capabilities)
 *
 * - `factory` (ConformanceFactory) makes adapter instances on the test backend (`create`, called
 *   once for the suite and again wherever a test needs a second instance or a restarted one), the
 *   spec of a test channel (`channelSpec`, already parsed by the plug-in's schema), and, for a
 *   backend outside the process, an instance pointed at an address that never answers
 *   (`unreachable`).
 * - `capabilities` (ChannelAdapterCapabilities) declares what the backend promises; a test whose
 *   capability the backend does not declare is reported as skipped, with the reason. A `durable`
 *   backend must give `factory.unreachable` and `capabilities.undecodable`: it cannot skip those.
 *
 * ```ts
 * describeChannelAdapter(
 *   "KafkaChannel",
 *   {
 *     create: () => kafkaChannelPlugin.create({ config: kafkaConfig.schema.parse({ bootstrapServers }), logger }),
 *     // Sharing needs at least two partitions; ordered tests give their events one partitionkey.
 *     channelSpec: () => kafkaChannelSpecSchema.parse({ numPartitions: 3 }),
 *     unreachable: ({ host, port }) =>
 *       kafkaChannelPlugin.create({ config: kafkaConfig.schema.parse({ bootstrapServers: [`${host}:${port}`] }), logger }),
 *   },
 *   {
 *     durable: true,
 *     sharedAcrossInstances: true,
 *     orderedScope: "partition",
 *     undecodable: (channel, body) => sendRawRecord(topicName(channel), body), // the backend's own client
 *   },
 * );
 * ```
 *
 * Events: `testEvent(id)` from test/support/adapter-fixtures.ts. When order or batching depends on
 * a key, events carry the CloudEvents `partitionkey` extension: the ordered tests give every event
 * one key unless `orderedScope` is "channel" (then each event its own key, to show the order holds
 * across keys); the unordered tests give every event one key when `orderedScope` is "partition" (so
 * a Kafka batch can fill `maxInFlight`), none otherwise. `channelSpec({ ordered })` tells which kind of
 * test asks (Pub/Sub turns on message ordering for the ordered ones only).
 *
 * Each test runs on a channel of its own (`conformance-<test>-<random>`), deleted afterwards, and
 * waits with `eventually()` up to `factory.waitMs` (30 s by default); nothing sleeps a fixed time.
 * The only timing checks are lower bounds (a redelivery no sooner than REDELIVERY_DELAY_MS, less 10%
 * for clock granularity) and a generous upper bound on a publish to a backend that never answers.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it as test, type TestContext } from "node:test";
import { performance } from "node:perf_hooks";
import {
  REDELIVERY_DELAY_MS,
  UNDECODABLE_EVENT_TYPE,
  type ChannelAdapter,
  type ChannelTarget,
  REPLAY_EXTENSION,
  type EventHandler,
  type ReplayPosition,
  type SubscriptionHandle,
  type SubscriptionTarget,
} from "../../adapters/adapter.js";
import { HeraldError } from "../../src/errors.js";
import type { CloudEvent } from "../../src/events/event.js";
import {
  gate,
  Recorder,
  startSilentServer,
  testEvent,
  testIds,
  testSubscription,
  uniqueName,
  within,
  type Call,
} from "../support/adapter-fixtures.js";
import { eventually } from "../support/eventually.js";

type Awaitable<T> = T | Promise<T>;

export interface ConformanceFactory<Spec> {
  /**
   * A new adapter on the test backend, with connections of its own, as a second Herald process
   * would have. Every call must return a separate instance.
   */
  readonly create: () => Awaitable<ChannelAdapter<Spec>>;
  /**
   * The spec of a test channel, parsed and defaulted by the plug-in's schema (as the kernel passes
   * it). `ordered` is true for the tests whose subscriptions are ordered. The spec must let two
   * consumers share a subscription when `sharedAcrossInstances` (Kafka: at least two partitions).
   */
  readonly channelSpec: (test: { readonly ordered: boolean }) => Spec;
  /**
   * A new adapter whose backend address is `address`, where the suite runs a TCP server that
   * accepts connections and never answers: the backend hangs, so only the publish deadline can end
   * the call. Required when the backend runs outside the process.
   */
  readonly unreachable?: (address: {
    readonly host: string;
    readonly port: number;
  }) => Awaitable<ChannelAdapter<Spec>>;
  /** How long a test waits for events to arrive, in ms (default 30 000). */
  readonly waitMs?: number;
}

export interface ChannelAdapterCapabilities<Spec> {
  /**
   * Events outlive the adapter instance: a new instance (a restarted Herald) continues a
   * subscription where the closed one left, redelivering what was not acknowledged.
   */
  readonly durable: boolean;
  /**
   * Two instances running the same subscription (same namespace and name, different uid) share its
   * events: each is handled by one of them.
   */
  readonly sharedAcrossInstances: boolean;
  /** What ordered delivery is kept across: the whole channel, one partition, or one ordering key. */
  readonly orderedScope: "channel" | "partition" | "key";
  /**
   * The backend refuses events once a subscription's backlog is full. The suite holds the first
   * event in the handler, publishes one event at a time until a publish is refused (at most
   * `2 × capacity + 10`), then checks that every accepted event is delivered.
   */
  readonly boundedCapacity?: {
    /** Events a subscription can have waiting behind the one its handler holds. */
    readonly capacity: number;
    /** An adapter with that capacity, when the capacity is an adapter setting (memory). */
    readonly create?: () => Awaitable<ChannelAdapter<Spec>>;
    /** A channel spec with that capacity, when the capacity is a channel setting. */
    readonly channelSpec?: () => Spec;
  };
  /**
   * Puts `body` into the channel as a message that is not a CloudEvent, with the backend's own
   * client (not the adapter). Absent when the backend can only hold CloudEvents (memory).
   */
  readonly undecodable?: (channel: ChannelTarget<Spec>, body: Buffer) => Promise<void>;
  /**
   * Replay (`ChannelAdapter.seek`): the kinds of position the backend replays from, and the spec of
   * a replayable channel when that is a channel setting (a RabbitMQ stream queue). `false` for a
   * backend that cannot replay: the suite then checks that it says so and refuses a seek.
   * `refusedSpec` is a channel of the backend that cannot replay (a RabbitMQ classic queue).
   */
  readonly replay:
    | false
    | {
        readonly from: readonly ReplayPosition["from"][];
        readonly channelSpec?: (test: { readonly ordered: boolean }) => Spec;
        readonly refusedSpec?: () => Spec;
      };
}

/** The deadline the outage test gives `publish`, and how late its rejection may come after it. */
const PUBLISH_DEADLINE_MS = 1_000;
const PUBLISH_DEADLINE_SLACK_MS = 5_000;
/** Lower bound of a measured redelivery delay: REDELIVERY_DELAY_MS less timer and clock granularity. */
const MIN_REDELIVERY_GAP_MS = REDELIVERY_DELAY_MS * 0.9;

/** Every rejected call of `id`, with the gap until the next call of it started. */
function redeliveryGaps(recorder: Recorder, id: string): number[] {
  const calls = recorder.callsOf(id);
  return calls.flatMap((call, index) => {
    const next = calls[index + 1];
    return call.outcome === "rejected" && next ? [next.startedAt - (call.settledAt ?? call.startedAt)] : [];
  });
}

/** Margin around the time a replay starts from, so that no clock granularity puts an event on the wrong side. */
const REPLAY_TIME_MARGIN_MS = 1_100;

/** What the calls from `from` on handed over: distinct ids in order, and the replay mark of each. */
function handedOver(recorder: Recorder, from: number): { ids: string[]; marks: Map<string, unknown> } {
  const calls = recorder.calls.slice(from).filter((call) => call.outcome === "resolved");
  const marks = new Map<string, unknown>();
  for (const call of calls) marks.set(call.id, call.event.attributes[REPLAY_EXTENSION]);
  return { ids: [...new Set(calls.map((call) => call.id))], marks };
}

/** What an assertion message says about an outcome that was not the expected error. */
function describeError(error: unknown): string {
  if (error instanceof HeraldError) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return error === undefined ? "no error" : JSON.stringify(error);
}

function isRefusal(error: unknown): boolean {
  return (
    error instanceof HeraldError && (error.code === "ChannelFull" || error.code === "BackendUnavailable")
  );
}

/**
 * Which tests one call registers: all of them, the replay tests only, or all but those (a backend
 * whose replay tests are slow runs them from a file of their own, each file within the runner's time).
 */
export type ConformancePart = "all" | "replay" | "core";

export function describeChannelAdapter<Spec>(
  name: string,
  factory: ConformanceFactory<Spec>,
  capabilities: ChannelAdapterCapabilities<Spec>,
  part: ConformancePart = "all",
): void {
  const waitMs = factory.waitMs ?? 30_000;
  const options = { timeout: waitMs * 4 };
  const wait = <T>(check: () => T | Promise<T>, message: string) =>
    eventually(check, { timeoutMs: waitMs, message });
  const { orderedScope } = capabilities;
  /** The partitionkey of the i-th event of an ordered test (see the header). */
  const orderedKey = (index: number) => ({
    partitionkey: orderedScope === "channel" ? `key-${index}` : "ordered",
  });
  const unorderedKey = (): Record<string, string> =>
    orderedScope === "partition" ? { partitionkey: "unordered" } : {};

  let adapter: ChannelAdapter<Spec>;

  // Tests of the other part are not registered at all (rather than reported as skipped).
  const it: typeof test = part === "replay" ? ((() => undefined) as unknown as typeof test) : test;
  const replayTest: typeof test = part === "core" ? ((() => undefined) as unknown as typeof test) : test;

  describe(`${name} channel adapter conformance${part === "all" ? "" : ` (${part})`}`, () => {
    before(async () => {
      adapter = await factory.create();
    });
    after(async () => {
      await adapter?.close();
    });

    const publish = (channel: ChannelTarget<Spec>, events: readonly CloudEvent[], on = adapter) =>
      on.publish(channel, events, { signal: AbortSignal.timeout(waitMs) });

    /**
     * What one test creates, undone when it ends (even when it failed): gates opened, open handles
     * closed, then the rest last-first: subscriptions deleted (durable state does not pile up on the
     * backend), extra adapters closed, channels deleted.
     */
    const scopeOf = (t: TestContext) => {
      const steps: (() => Promise<unknown>)[] = [];
      const gates: (() => void)[] = [];
      const handles: (() => Promise<void>)[] = [];
      t.after(async () => {
        for (const open of gates) open();
        // Together: a consumer may take seconds to leave (a Kafka fetch long-poll).
        await Promise.all(handles.map((close) => close()));
        for (const step of steps.reverse()) await step();
      });
      const defer = (step: () => Promise<unknown>) => void steps.push(step);
      const deleted = new Set<string>();
      return {
        defer,
        /** A gate for handlers to wait on, opened when the test ends so that no handler call outlives it. */
        gate() {
          const opened = gate();
          gates.push(opened.open);
          return opened;
        },
        /** A new channel of the test's own, created on `on` and deleted when the test ends. */
        async channel(test: string, spec: Spec, on = adapter): Promise<ChannelTarget<Spec>> {
          const channel: ChannelTarget<Spec> = {
            namespace: "default",
            name: uniqueName(`conformance-${test}`),
            uid: randomUUID(),
            spec,
          };
          await on.createChannel(channel);
          defer(() => on.deleteChannel(channel));
          return channel;
        },
        async subscribe(
          channel: ChannelTarget<Spec>,
          subscription: SubscriptionTarget,
          handler: EventHandler,
          on = adapter,
        ): Promise<SubscriptionHandle> {
          const key = `${subscription.namespace}/${subscription.name}`;
          if (!deleted.has(key)) {
            deleted.add(key);
            defer(() => on.deleteSubscription(channel, subscription));
          }
          const handle = await on.subscribe(channel, subscription, handler);
          let closed = false;
          handles.push(async () => {
            if (!closed) await handle.close();
          });
          return {
            close: async () => {
              closed = true;
              await handle.close();
            },
          };
        },
      };
    };

    const subscription = (test: string, ordering: SubscriptionTarget["ordering"], maxInFlight = 10) =>
      testSubscription(uniqueName(test), ordering, maxInFlight);

    it("reports ready while the backend is reachable", options, async (t) => {
      await scopeOf(t).channel("ready", factory.channelSpec({ ordered: false }));
      assert.equal(await adapter.isReady(), true);
    });

    it("fans out every event, attributes and data intact, to every subscription", options, async (t) => {
      const scope = scopeOf(t);
      const channel = await scope.channel("fanout", factory.channelSpec({ ordered: false }));
      const recorders = [new Recorder(), new Recorder(), new Recorder()];
      await Promise.all(
        recorders.map((recorder) =>
          scope.subscribe(channel, subscription("fanout", "unordered"), recorder.handler),
        ),
      );
      const ids = testIds("fan", 10);
      const events = ids.map((id) => testEvent(id, { subject: `about ${id}`, ...unorderedKey() }));
      await publish(channel, events);
      await wait(
        () => recorders.every((recorder) => recorder.handledAll(ids)),
        "every event at every subscription",
      );
      const received = recorders[0]!.callsOf("fan-3")[0]!.event;
      assert.deepEqual(received.attributes, events[3]!.attributes);
      assert.deepEqual(Buffer.from(received.data ?? []), events[3]!.data);
    });

    it(
      "ordered: hands events over one at a time, in order, a rejected one again (no sooner than REDELIVERY_DELAY_MS) before any later one",
      options,
      async (t) => {
        const scope = scopeOf(t);
        const channel = await scope.channel("ordered", factory.channelSpec({ ordered: true }));
        const ids = testIds("ord", 6);
        const recorder = new Recorder((call) => {
          if (call.id === "ord-2" && call.attempt <= 2) throw new Error("rejected on purpose");
        });
        await scope.subscribe(channel, subscription("ordered", "ordered", 1), recorder.handler);
        await publish(
          channel,
          ids.map((id, index) => testEvent(id, orderedKey(index))),
        );
        await wait(() => recorder.handledAll(ids), "every event handled");

        assert.equal(recorder.peak, 1, "one handler call at a time");
        assert.deepEqual(recorder.firstSuccesses(), ids);
        // At-least-once allows repeats of an event already handled, never one overtaking another.
        for (const call of recorder.calls) {
          const earlier = ids.slice(0, ids.indexOf(call.id));
          const succeeded = new Set(recorder.succeeded.slice(0, call.succeededBefore));
          const missing = earlier.filter((id) => !succeeded.has(id));
          assert.deepEqual(missing, [], `${call.id} was handed over before ${missing.join(", ")} succeeded`);
        }
        const gaps = redeliveryGaps(recorder, "ord-2");
        assert.ok(gaps.length >= 2, "the rejected event came back after each rejection");
        for (const gap of gaps)
          assert.ok(gap >= MIN_REDELIVERY_GAP_MS, `redelivered ${Math.round(gap)} ms after its rejection`);
      },
    );

    it(
      "unordered: redelivers a rejected event no sooner than REDELIVERY_DELAY_MS, and delivers the others",
      options,
      async (t) => {
        const scope = scopeOf(t);
        const channel = await scope.channel("redeliver", factory.channelSpec({ ordered: false }));
        const ids = testIds("red", 5);
        const recorder = new Recorder((call) => {
          if (call.id === "red-0" && call.attempt === 1) throw new Error("rejected on purpose");
        });
        await scope.subscribe(channel, subscription("redeliver", "unordered", 3), recorder.handler);
        await publish(
          channel,
          ids.map((id) => testEvent(id, unorderedKey())),
        );
        await wait(() => recorder.handledAll(ids), "every event handled, the rejected one too");
        const [gap] = redeliveryGaps(recorder, "red-0");
        assert.ok(gap !== undefined, "the rejected event came back");
        assert.ok(gap >= MIN_REDELIVERY_GAP_MS, `redelivered ${Math.round(gap)} ms after its rejection`);
      },
    );

    it(
      "unordered: runs more than one handler call at once, never more than maxInFlight",
      options,
      async (t) => {
        const scope = scopeOf(t);
        const channel = await scope.channel("bound", factory.channelSpec({ ordered: false }));
        const maxInFlight = 3;
        const release = scope.gate();
        const recorder = new Recorder(() => release.promise);
        await scope.subscribe(channel, subscription("bound", "unordered", maxInFlight), recorder.handler);
        const ids = testIds("par", 12);
        await publish(
          channel,
          ids.map((id) => testEvent(id, unorderedKey())),
        );
        await wait(() => recorder.inFlight >= maxInFlight, `${maxInFlight} handler calls in flight`);
        release.open();
        await wait(() => recorder.handledAll(ids), "every event handled");
        assert.equal(recorder.peak, maxInFlight, "the most handler calls at once");
      },
    );

    it(
      "hands a message that is not a CloudEvent over as dev.herald.channel.undecodable, and never drops it",
      {
        ...options,
        skip: !capabilities.undecodable && !capabilities.durable && "the backend holds only CloudEvents",
      },
      async (t) => {
        const inject = capabilities.undecodable;
        assert.ok(inject, "a durable backend must give capabilities.undecodable");
        const scope = scopeOf(t);
        const channel = await scope.channel("undecodable", factory.channelSpec({ ordered: false }));
        const isUndecodable = (call: Call) => call.event.attributes.type === UNDECODABLE_EVENT_TYPE;
        const recorder = new Recorder((call) => {
          // Rejected once: an undecodable message is redelivered like any other, not dropped.
          if (isUndecodable(call) && call.attempt === 1) throw new Error("rejected on purpose");
        });
        await scope.subscribe(channel, subscription("undecodable", "unordered"), recorder.handler);
        const body = Buffer.from(`not a CloudEvent ${randomUUID()}`);
        await inject(channel, body);
        await publish(channel, [testEvent("after-undecodable", unorderedKey())]);

        await wait(
          () => recorder.calls.some((call) => isUndecodable(call) && call.outcome === "resolved"),
          "the undecodable message, redelivered after its rejection",
        );
        await wait(() => recorder.handled("after-undecodable"), "the event published after it");
        const [first, second] = recorder.calls.filter(isUndecodable);
        assert.ok(first && second);
        assert.ok(first.context.undecodable, "the context says why it is not a CloudEvent");
        assert.equal(first.event.attributes.specversion, "1.0");
        assert.ok(String(first.event.attributes.id).length > 0);
        assert.match(
          String(first.event.attributes.source),
          new RegExp(`/namespaces/default/[a-z]+/${channel.name}$`),
        );
        assert.deepEqual(Buffer.from(first.event.data ?? []), body);
        assert.equal(second.event.attributes.id, first.event.attributes.id, "the same message came back");
      },
    );

    it(
      "close waits for the handler call in flight, starts no other, and leaves every unacknowledged event for the next consumer",
      options,
      async (t) => {
        const scope = scopeOf(t);
        const channel = await scope.channel("close", factory.channelSpec({ ordered: true }));
        const target = subscription("close", "ordered", 1);
        const ids = testIds("cls", 4);
        const started = scope.gate();
        const release = scope.gate();
        let closeCalledAt = Infinity;
        let closed = false;
        let closedBeforeHandlerEnded: boolean | undefined;
        const first = new Recorder(async (call) => {
          if (call.id !== "cls-0") return;
          started.open();
          await release.promise;
          closedBeforeHandlerEnded ??= closed;
          throw new Error("shutting down");
        });
        const handle = await scope.subscribe(channel, target, first.handler);
        // cls-0 is in flight at close, cls-1 and cls-2 wait behind it, cls-3 comes while nobody consumes.
        await publish(
          channel,
          ids.slice(0, 3).map((id, index) => testEvent(id, orderedKey(index))),
        );
        await within(waitMs, started.promise, "the first handler call");
        closeCalledAt = performance.now();
        const closing = handle.close().then(() => (closed = true));
        await new Promise((resolve) => setImmediate(resolve));
        release.open();
        await closing;
        assert.equal(closedBeforeHandlerEnded, false, "close resolved before the handler call ended");
        assert.deepEqual(
          first.calls.filter((call) => call.startedAt > closeCalledAt).map((call) => call.id),
          [],
          "no handler call starts once close() was called",
        );
        await publish(channel, [testEvent("cls-3", orderedKey(3))]);

        const next = new Recorder();
        await scope.subscribe(channel, target, next.handler);
        await wait(() => next.handledAll(ids), "every unacknowledged event at the next consumer");
        assert.deepEqual(next.firstSuccesses(), ids);
      },
    );

    it(
      "re-subscribing continues where the subscription left: nothing lost, nothing acknowledged replayed",
      options,
      async (t) => {
        const scope = scopeOf(t);
        const channel = await scope.channel("resume", factory.channelSpec({ ordered: true }));
        const target = subscription("resume", "ordered", 1);
        const early = testIds("early", 5);
        const late = testIds("late", 3);
        const first = new Recorder();
        const handle = await scope.subscribe(channel, target, first.handler);
        await publish(
          channel,
          early.map((id, index) => testEvent(id, orderedKey(index))),
        );
        await wait(() => first.handledAll(early), "the early events");
        await handle.close();
        await publish(
          channel,
          late.map((id, index) => testEvent(id, orderedKey(early.length + index))),
        );

        const next = new Recorder();
        await scope.subscribe(channel, target, next.handler);
        await wait(() => next.handledAll(late), "the events published while nobody consumed");
        // Ordered: a replayed early event would have come before the late ones.
        assert.deepEqual(next.firstSuccesses(), late);
      },
    );

    it(
      "a new adapter instance (a restarted Herald) continues the subscription where the closed one left",
      { ...options, skip: !capabilities.durable && "events live in the adapter instance only" },
      async (t) => {
        const scope = scopeOf(t);
        const channel = await scope.channel("restart", factory.channelSpec({ ordered: true }));
        const target = subscription("restart", "ordered", 1);
        const ids = testIds("rst", 4);
        const started = scope.gate();
        const release = scope.gate();
        const previous = await factory.create();
        let stopped = false;
        scope.defer(async () => {
          if (!stopped) await previous.close();
        });
        const first = new Recorder(async (call) => {
          if (call.id !== "rst-2") return;
          started.open();
          await release.promise;
          throw new Error("shutting down");
        });
        await previous.subscribe(channel, target, first.handler);
        await publish(
          channel,
          ids.slice(0, 3).map((id, index) => testEvent(id, orderedKey(index))),
        );
        await within(waitMs, started.promise, "the handler call of rst-2");
        // The process stops while rst-2 is in flight; its handler then fails.
        stopped = true;
        const closing = previous.close();
        release.open();
        await closing;
        assert.deepEqual(first.firstSuccesses(), ["rst-0", "rst-1"]);
        await publish(channel, [testEvent("rst-3", orderedKey(3))]);

        const restarted = await factory.create();
        scope.defer(() => restarted.close());
        const next = new Recorder();
        await scope.subscribe(channel, target, next.handler, restarted);
        await wait(() => next.handledAll(["rst-2", "rst-3"]), "the unacknowledged and the new event");
        assert.deepEqual(next.firstSuccesses(), ["rst-2", "rst-3"]);
      },
    );

    it(
      "deleting a subscription drops its durable state: the same name afterwards starts afresh",
      options,
      async (t) => {
        const scope = scopeOf(t);
        const channel = await scope.channel("delete", factory.channelSpec({ ordered: true }));
        const target = subscription("delete", "ordered", 1);
        const first = new Recorder();
        const handle = await scope.subscribe(channel, target, first.handler);
        await publish(channel, [testEvent("del-0", orderedKey(0))]);
        await wait(() => first.handled("del-0"), "the first event");
        await handle.close();
        await adapter.deleteSubscription(channel, target);
        await publish(channel, [testEvent("del-between", orderedKey(1))]);

        // Knative gives a re-created Subscription a new uid; the name is what the backend knows.
        const next = new Recorder();
        await scope.subscribe(channel, { ...target, uid: randomUUID() }, next.handler);
        await publish(channel, [testEvent("del-after", orderedKey(2))]);
        await wait(() => next.handled("del-after"), "the event published after re-creating");
        // Ordered: a kept "del-between" would have come first.
        assert.deepEqual(next.firstSuccesses(), ["del-after"]);
      },
    );

    it(
      "publish rejects with BackendUnavailable by the deadline when the backend never answers, and isReady() says false",
      {
        ...options,
        skip: !factory.unreachable && !capabilities.durable && "the backend runs in the process",
      },
      async (t) => {
        assert.ok(factory.unreachable, "a durable backend must give factory.unreachable");
        const scope = scopeOf(t);
        const server = await startSilentServer();
        scope.defer(() => server.close());
        const down = await factory.unreachable({ host: server.host, port: server.port });
        // Runs before the server closes: close() must not hang on a backend that never answered.
        scope.defer(() =>
          within(waitMs, down.close(), "close() of the adapter whose backend never answered"),
        );
        const channel: ChannelTarget<Spec> = {
          namespace: "default",
          name: uniqueName("conformance-outage"),
          uid: randomUUID(),
          spec: factory.channelSpec({ ordered: false }),
        };
        const startedAt = performance.now();
        // As ingress gives them: the deadline as a time, and a signal aborted then.
        const deadline = {
          signal: AbortSignal.timeout(PUBLISH_DEADLINE_MS),
          deadline: startedAt + PUBLISH_DEADLINE_MS,
        };
        const outcome = await within(
          PUBLISH_DEADLINE_MS + PUBLISH_DEADLINE_SLACK_MS,
          down.publish(channel, [testEvent("outage")], deadline).then(
            () => undefined,
            (error: unknown) => error,
          ),
          "publish to a backend that never answers",
        );
        const elapsed = performance.now() - startedAt;
        assert.ok(
          outcome instanceof HeraldError,
          `publish rejected with a HeraldError (got ${describeError(outcome)})`,
        );
        assert.equal(outcome.code, "BackendUnavailable");
        assert.ok(
          elapsed < PUBLISH_DEADLINE_MS + PUBLISH_DEADLINE_SLACK_MS,
          `rejected ${Math.round(elapsed)} ms after the call`,
        );
        assert.equal(await within(waitMs, down.isReady(), "isReady()"), false);
      },
    );

    it(
      "two instances running the same subscription (same name, another uid) share its events: each handled by one of them",
      { ...options, skip: !capabilities.sharedAcrossInstances && "the backend lives in one process" },
      async (t) => {
        const scope = scopeOf(t);
        const channel = await scope.channel("shared", factory.channelSpec({ ordered: false }));
        const other = await factory.create();
        scope.defer(() => other.close());
        const target = subscription("shared", "unordered");
        const mine = new Recorder();
        const theirs = new Recorder();
        await scope.subscribe(channel, target, mine.handler);
        await scope.subscribe(channel, { ...target, uid: randomUUID() }, theirs.handler, other);
        const handledOnce = (id: string) => mine.handled(id) || theirs.handled(id);

        // Warm up until both instances take events (a Kafka group has rebalanced, say), so that the
        // measured events below are not handed from one instance to the other half-way.
        let round = 0;
        const warmUp: string[] = [];
        await eventually(
          async () => {
            const ids = testIds(`warm${round++}`, 10);
            warmUp.push(...ids);
            await publish(
              channel,
              ids.map((id) => testEvent(id, { partitionkey: id })),
            );
            return mine.succeeded.length > 0 && theirs.succeeded.length > 0;
          },
          { timeoutMs: waitMs, intervalMs: 500, message: "both instances to take events" },
        );
        await wait(() => warmUp.every(handledOnce), "the warm-up events handled");

        const ids = testIds("shr", 30);
        await publish(
          channel,
          ids.map((id) => testEvent(id, { partitionkey: id })),
        );
        await wait(() => ids.every(handledOnce), "every event handled");
        const twice = ids.filter((id) => mine.handled(id) && theirs.handled(id));
        assert.deepEqual(twice, [], "events handled by both instances");
      },
    );

    const { replay } = capabilities;
    const replaySpec = (test: { ordered: boolean }): Spec =>
      replay !== false && replay.channelSpec ? replay.channelSpec(test) : factory.channelSpec(test);
    const replaysFrom = (from: ReplayPosition["from"]) => replay !== false && replay.from.includes(from);

    replayTest(
      "replay from the beginning hands every event kept over again, ids kept and marked heraldreplay; later events are not marked",
      { ...options, skip: !replaysFrom("beginning") && "the backend does not replay from the beginning" },
      async (t) => {
        assert.ok(
          typeof adapter.seek === "function" && typeof adapter.replaySupport === "function",
          "a replaying backend implements seek and replaySupport",
        );
        const scope = scopeOf(t);
        // Unordered: the Pub/Sub emulator cannot seek a subscription with message ordering.
        const channel = await scope.channel("replay-begin", replaySpec({ ordered: false }));
        assert.equal(adapter.replaySupport(channel).replayable, true);
        const target = subscription("replay-begin", "unordered");
        const recorder = new Recorder();
        await scope.subscribe(channel, target, recorder.handler);
        const early = testIds("rbe", 3);
        await publish(
          channel,
          early.map((id) => testEvent(id, unorderedKey())),
        );
        await wait(() => recorder.handledAll(early), "the events before the replay");
        const from = recorder.calls.length;

        await adapter.seek(channel, target, { from: "beginning" });
        await wait(
          () => early.every((id) => handedOver(recorder, from).marks.get(id) === "beginning"),
          "every event again, marked",
        );
        await publish(channel, [testEvent("rbe-late", unorderedKey())]);
        await wait(() => handedOver(recorder, from).ids.includes("rbe-late"), "the event published after");

        const { ids, marks } = handedOver(recorder, from);
        assert.deepEqual(ids.sort(), [...early, "rbe-late"], "exactly the kept events and the new one");
        assert.equal(marks.get("rbe-late"), undefined, "an event published after the seek is not marked");
        const again = recorder.calls.slice(from).find((call) => call.id === "rbe-1")!;
        const original = recorder.calls.find((call) => call.id === "rbe-1")!;
        const { [REPLAY_EXTENSION]: mark, ...attributes } = again.event.attributes;
        assert.equal(mark, "beginning");
        assert.deepEqual(attributes, original.event.attributes, "the replayed event is the one published");
      },
    );

    replayTest(
      "replay from a time, sought while the subscription is not running, hands over exactly the events accepted from then on",
      { ...options, skip: !replaysFrom("time") && "the backend does not replay from a time" },
      async (t) => {
        assert.ok(typeof adapter.seek === "function", "a replaying backend implements seek");
        const scope = scopeOf(t);
        const channel = await scope.channel("replay-time", replaySpec({ ordered: false }));
        const target = subscription("replay-time", "unordered");
        const first = new Recorder();
        const handle = await scope.subscribe(channel, target, first.handler);
        const early = testIds("rte", 3);
        const later = testIds("rtl", 3);
        await publish(
          channel,
          early.map((id) => testEvent(id, unorderedKey())),
        );
        await wait(() => first.handledAll(early), "the events before the time");
        const time = new Date(Date.now() + REPLAY_TIME_MARGIN_MS);
        await eventually(() => Date.now() > time.getTime() + REPLAY_TIME_MARGIN_MS, {
          timeoutMs: 10 * REPLAY_TIME_MARGIN_MS,
          intervalMs: 50,
          message: "the clock to pass the replay's time",
        });
        await publish(
          channel,
          later.map((id) => testEvent(id, unorderedKey())),
        );
        await wait(() => first.handledAll(later), "the events after the time");
        await handle.close();

        await adapter.seek(channel, target, { from: "time", time });
        const next = new Recorder();
        await scope.subscribe(channel, target, next.handler);
        await wait(() => next.handledAll(later), "the events accepted from the time on, again");
        await publish(channel, [testEvent("rtl-new", unorderedKey())]);
        await wait(() => next.handled("rtl-new"), "the event published after the seek");

        const { ids, marks } = handedOver(next, 0);
        assert.deepEqual(ids.sort(), [...later, "rtl-new"], "exactly the events accepted from the time on");
        for (const id of later) assert.equal(marks.get(id), time.toISOString(), `${id} is marked`);
        assert.equal(marks.get("rtl-new"), undefined);
      },
    );

    replayTest(
      "a channel that cannot replay says so, and a seek is refused with BadRequest naming from",
      {
        ...options,
        skip: replay !== false && !replay.refusedSpec && "every channel of the backend replays",
      },
      async (t) => {
        const scope = scopeOf(t);
        const spec = replay === false ? factory.channelSpec({ ordered: false }) : replay.refusedSpec!();
        const channel = await scope.channel("replay-refused", spec);
        const support = adapter.replaySupport?.(channel) ?? { replayable: false, reason: "" };
        assert.equal(support.replayable, false);
        if (!adapter.seek) return;
        assert.ok(!support.replayable && support.reason.length > 0, "it says why");
        const target = subscription("replay-refused", "unordered");
        await scope.subscribe(channel, target, new Recorder().handler);
        await assert.rejects(adapter.seek(channel, target, { from: "beginning" }), (error: unknown) => {
          assert.ok(error instanceof HeraldError, describeError(error));
          assert.equal(error.code, "BadRequest");
          assert.match(error.message, /^from: /);
          return true;
        });
      },
    );

    it(
      "refuses a publish when a subscription's backlog is full (ChannelFull or BackendUnavailable), never drops silently",
      { ...options, skip: !capabilities.boundedCapacity && "the backend declares no bounded capacity" },
      async (t) => {
        const bounded = capabilities.boundedCapacity;
        assert.ok(bounded);
        const scope = scopeOf(t);
        let on = adapter;
        if (bounded.create) {
          const created = await bounded.create();
          scope.defer(() => created.close());
          on = created;
        }
        const spec = bounded.channelSpec?.() ?? factory.channelSpec({ ordered: true });
        const channel = await scope.channel("full", spec, on);
        const started = scope.gate();
        const release = scope.gate();
        const recorder = new Recorder(async () => {
          started.open();
          await release.promise;
        });
        await scope.subscribe(channel, subscription("full", "ordered", 1), recorder.handler, on);
        await publish(channel, [testEvent("full-held", orderedKey(0))], on);
        await within(waitMs, started.promise, "the handler to hold the first event");

        const accepted = ["full-held"];
        let refusal: unknown;
        for (let index = 1; index <= 2 * bounded.capacity + 10 && refusal === undefined; index++) {
          const id = `full-${index}`;
          try {
            await publish(channel, [testEvent(id, orderedKey(index))], on);
            accepted.push(id);
          } catch (error) {
            refusal = error;
          }
        }
        assert.ok(refusal !== undefined, `no refusal after ${accepted.length} events`);
        assert.ok(
          isRefusal(refusal),
          `refused with ChannelFull or BackendUnavailable (got ${describeError(refusal)})`,
        );

        release.open();
        await wait(() => recorder.handledAll(accepted), "every accepted event delivered");
        await publish(channel, [testEvent("full-after", orderedKey(accepted.length + 1))], on);
        await wait(() => recorder.handled("full-after"), "an event accepted once the backlog drained");
      },
    );
  });
}
