import {
  DeliverPolicy,
  JetStreamApiError,
  type Consumer,
  type ConsumerConfig,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { InvalidArgumentError } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { HeraldError } from "../../src/errors.js";
import type { CloudEvent } from "../../src/events/event.js";
import {
  channelSource,
  defineChannelPlugin,
  markReplayed,
  replayMark,
  undecodableEvent,
  untilAborted,
  type ChannelAdapter,
  type ChannelBackendStatus,
  type ChannelTarget,
  type DeliveryContext,
  type EventHandler,
  type PublishOptions,
  type ReplayPosition,
  type ReplaySupport,
  type SeekResult,
  type SubscriptionHandle,
  type SubscriptionTarget,
} from "../adapter.js";
import { PublishDeadlines } from "../publish-deadlines.js";
import { fromNatsMessage, percentEncode, toNatsMessage } from "./binding.js";
import { natsConfig, type NatsConfig } from "./config.js";
import { NatsConnectionManager, within, type Session } from "./connection.js";
import { isMissing, PullSubscription } from "./consumer.js";
import {
  natsJetStreamChannelNames,
  natsJetStreamChannelSpecSchema,
  type NatsJetStreamChannelSpec,
} from "./spec.js";
import {
  channelSubject,
  consumerConfig,
  consumerName,
  pullSettings,
  streamConfig,
  streamName,
} from "./topology.js";

/**
 * NatsJetStreamChannel on NATS JetStream (topology in `topology.ts`: a stream per channel, a durable
 * pull consumer per subscription).
 *
 * Publish: every event of a batch is published at once, in binary content mode (`binding.ts`), and
 * `publish` resolves when JetStream acknowledged each one (stored, replicated as the stream says).
 * The message id (`Nats-Msg-Id`) is the event's source and id, so JetStream drops a re-sent event
 * within the stream's duplicate window (CloudEvents: same source and id, same event), as Knative does.
 * A full stream with `discard: New` answers ChannelFull; a message over the stream's or server's size
 * limit PayloadTooLarge; anything else, and the caller's deadline, BackendUnavailable.
 *
 * Delivery (`consumer.ts`): at-least-once, acknowledged after the handler resolved, handed back with a
 * `REDELIVERY_DELAY_MS` delay when it rejected. Ordered subscriptions have one message outstanding
 * across every process, in stream order. Two processes running the same subscription pull from the
 * same durable consumer, so they share its messages.
 *
 * Outages: the client reconnects by itself; meanwhile publishes fail at once with BackendUnavailable
 * and consumers pause. After each reconnection the streams and consumers are declared again (a memory
 * stream does not survive a server restart) before publishes are taken again, then consumers resume.
 */
const EMPTY_CONTEXT: DeliveryContext = Object.freeze({});
/** JetStream's "stream name already in use with a different configuration". */
const STREAM_NAME_IN_USE = 10058;
/** JetStream's "store failed" (`maximum messages/bytes exceeded` with `discard: New`) and "insufficient resources". */
const STORE_FAILED = 10077;
const INSUFFICIENT_RESOURCES = 10023;
/** JetStream's "message size exceeds maximum allowed". */
const MESSAGE_TOO_LARGE = 10054;

type Channel = ChannelTarget<NatsJetStreamChannelSpec>;

const channelKey = (channel: { namespace: string; name: string }) => `${channel.namespace}/${channel.name}`;

interface Running {
  readonly channel: Channel;
  readonly subscription: SubscriptionTarget;
  readonly handler: EventHandler;
  /** Replaced when a seek starts the subscription again. */
  pull: PullSubscription;
}

/** A replay: messages up to stream sequence `until` are handed over marked. */
interface NatsReplay {
  readonly mark: string;
  readonly until: number;
  /** Where the consumer was made to start; kept when it is declared again. */
  readonly start: Partial<ConsumerConfig>;
}

const replayKey = (channel: Channel, subscription: SubscriptionTarget) =>
  `${streamName(channel)}/${consumerName(subscription)}`;

const isOf = (running: Running, channel: Channel) =>
  running.channel.namespace === channel.namespace && running.channel.name === channel.name;

/** The JetStream message id of an event: percent-encoded source and id, a space between. */
export function messageId(event: CloudEvent): string {
  return `${percentEncode(String(event.attributes.source))} ${percentEncode(String(event.attributes.id))}`;
}

/** Turns a failed publish into the HeraldError ingress answers with. */
function publishError(error: unknown): HeraldError {
  if (error instanceof HeraldError) return error;
  const fail = (code: "PayloadTooLarge" | "ChannelFull" | "BackendUnavailable", message: string) =>
    new HeraldError(code, message, undefined, { cause: error });
  const reason = (error as Error).message;
  if (error instanceof JetStreamApiError) {
    if (error.code === MESSAGE_TOO_LARGE) return fail("PayloadTooLarge", `NATS refused the event: ${reason}`);
    if (
      error.code === INSUFFICIENT_RESOURCES ||
      (error.code === STORE_FAILED && /maximum .*exceeded/.test(reason))
    )
      return fail("ChannelFull", `NATS stream is full: ${reason}`);
  }
  if (error instanceof InvalidArgumentError && reason.includes("max_payload"))
    return fail("PayloadTooLarge", "the event is larger than the NATS server's max_payload");
  return fail("BackendUnavailable", `NATS cannot accept events: ${reason}`);
}

class NatsChannelAdapter implements ChannelAdapter<NatsJetStreamChannelSpec> {
  readonly kind = natsJetStreamChannelNames.kind;
  private readonly connection: NatsConnectionManager;
  /** Publishes waiting for JetStream's acknowledgement, rejected once late. */
  private readonly deadlines = new PublishDeadlines("NATS");
  /** Channels created by this adapter, by namespace/name: declared again after a reconnection. */
  private readonly channels = new Map<string, Channel>();
  private readonly running = new Set<Running>();
  /** Replays sought through this adapter, by stream and consumer name. */
  private readonly replays = new Map<string, NatsReplay>();

  constructor(
    private readonly config: NatsConfig,
    private readonly logger: Logger,
  ) {
    this.connection = new NatsConnectionManager(config, logger, (session) => this.restore(session));
  }

  private async declareStream(jsm: JetStreamManager, channel: Channel): Promise<void> {
    const config = streamConfig(channel);
    try {
      await jsm.streams.add(config);
    } catch (error) {
      if (!(error instanceof JetStreamApiError && error.code === STREAM_NAME_IN_USE)) throw error;
      const { name, ...changes } = config;
      await jsm.streams.update(name, changes);
    }
  }

  /**
   * After a reconnection: every stream and every running subscription's consumer, again. A refusal
   * by JetStream (an API error) is logged and skipped, so one stream cannot keep the others from
   * being published to; anything else (JetStream still starting) fails the pass, to be retried.
   */
  private async restore(session: Session): Promise<void> {
    const attempt = async (what: string, work: () => Promise<unknown>) => {
      try {
        await work();
      } catch (error) {
        if (!(error instanceof JetStreamApiError)) throw error;
        this.logger.warn({ err: error.message }, `NATS refused ${what} after reconnecting`);
      }
    };
    for (const channel of this.channels.values())
      await attempt(`stream ${streamName(channel)}`, () => this.declareStream(session.jsm, channel));
    for (const { channel, subscription } of this.running)
      await attempt(`consumer ${consumerName(subscription)}`, () =>
        this.declareConsumer(session, channel, subscription),
      );
  }

  async createChannel(channel: Channel): Promise<ChannelBackendStatus> {
    const { jsm } = await this.connection.ready();
    try {
      await this.declareStream(jsm, channel);
    } catch (error) {
      throw new Error(`NATS refused stream ${streamName(channel)}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    this.channels.set(channelKey(channel), channel);
    return { stream: streamName(channel), subject: channelSubject(channel) };
  }

  async deleteChannel(channel: Channel): Promise<void> {
    this.channels.delete(channelKey(channel));
    await this.stop((running) => isOf(running, channel));
    if (this.config.keepStreamsOnDelete) return;
    const { jsm } = await this.connection.ready();
    try {
      await jsm.streams.delete(streamName(channel));
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
  }

  async publish(channel: Channel, events: readonly CloudEvent[], options: PublishOptions): Promise<void> {
    const { js } =
      this.connection.connectedSession() ??
      (await untilAborted("NATS", this.connection.ready(), options.signal));
    const subject = channelSubject(channel);
    const publishOne = (event: CloudEvent) => {
      const { headers, data } = toNatsMessage(event);
      return js
        .publish(subject, data, { headers, msgID: messageId(event) })
        .then(undefined, (error: unknown) => {
          throw publishError(error);
        });
    };
    const acks: Promise<unknown> =
      events.length === 1 ? publishOne(events[0]!) : Promise.all(events.map(publishOne));
    await this.deadlines.race(acks, options);
  }

  /** The durable consumer of a subscription, created or brought up to date (and its stream, when missing). */
  private async declareConsumer(
    { js, jsm }: Session,
    channel: Channel,
    subscription: SubscriptionTarget,
  ): Promise<Consumer> {
    const stream = streamName(channel);
    const replay = this.replays.get(replayKey(channel, subscription));
    const config = { ...consumerConfig(channel, subscription), ...replay?.start };
    try {
      await jsm.consumers.add(stream, config);
    } catch (error) {
      if (!isMissing(error)) {
        // A consumer moved by a seek (here or in another process) keeps the start it was given.
        const existing = await jsm.consumers.info(stream, consumerName(subscription)).catch(() => undefined);
        if (!existing) throw error;
        return js.consumers.get(stream, consumerName(subscription));
      }
      await this.declareStream(jsm, channel);
      await jsm.consumers.add(stream, config);
    }
    return js.consumers.get(stream, consumerName(subscription));
  }

  /** The consumer for the pull loop: as it is, or declared again when JetStream lost it. */
  private async consumer(channel: Channel, subscription: SubscriptionTarget): Promise<Consumer> {
    const { js } = await this.connection.ready();
    try {
      return await js.consumers.get(streamName(channel), consumerName(subscription));
    } catch (error) {
      if (!isMissing(error)) throw error;
      return this.declareConsumer(await this.connection.ready(), channel, subscription);
    }
  }

  private decode(
    channel: Channel,
    subscription: SubscriptionTarget,
    message: JsMsg,
  ): { event: CloudEvent; context: DeliveryContext } {
    const decoded = fromNatsMessage(message.headers, message.data);
    if (typeof decoded !== "string") {
      const replay = this.replays.get(replayKey(channel, subscription));
      if (replay && message.seq <= replay.until)
        return { event: markReplayed(decoded, replay.mark), context: EMPTY_CONTEXT };
      return { event: decoded, context: EMPTY_CONTEXT };
    }
    return undecodableEvent({
      id: `${message.info.stream}#${message.seq}`,
      source: channelSource(natsJetStreamChannelNames, channel),
      body: message.data,
      reason: decoded,
    });
  }

  async subscribe(
    channel: Channel,
    subscription: SubscriptionTarget,
    handler: EventHandler,
  ): Promise<SubscriptionHandle> {
    await this.declareConsumer(await this.connection.ready(), channel, subscription);
    const running: Running = {
      channel,
      subscription,
      handler,
      pull: this.pull(channel, subscription, handler),
    };
    this.running.add(running);
    return {
      close: async () => {
        this.running.delete(running);
        await running.pull.close();
      },
    };
  }

  private pull(channel: Channel, subscription: SubscriptionTarget, handler: EventHandler): PullSubscription {
    return new PullSubscription(
      {
        consumer: () => this.consumer(channel, subscription),
        decode: (message) => this.decode(channel, subscription, message),
      },
      handler,
      pullSettings(channel, subscription),
      this.logger.child({ subscription: channelKey(subscription) }),
    );
  }

  /** Every NatsJetStreamChannel replays what its stream keeps. */
  replaySupport(): ReplaySupport {
    return { replayable: true, from: ["beginning", "time", "offset"] };
  }

  /**
   * Replaces the subscription's durable consumer by one that starts at `position`: deliver policy
   * All (`beginning`), ByStartTime (`time`) or ByStartSequence (`offset`: a stream sequence). This
   * process's pulls of it stop first and start again on the new consumer; another process's pulls
   * find the new consumer when theirs is gone. Messages up to the stream's last sequence at the seek
   * are marked; that is kept in this adapter instance (after a restart the rest of a replay goes
   * unmarked).
   */
  async seek(
    channel: Channel,
    subscription: SubscriptionTarget,
    position: ReplayPosition,
  ): Promise<SeekResult> {
    const session = await this.connection.ready();
    const stream = streamName(channel);
    const name = consumerName(subscription);
    const matches = (running: Running) =>
      isOf(running, channel) &&
      running.subscription.namespace === subscription.namespace &&
      running.subscription.name === subscription.name;
    const stopped = [...this.running].filter(matches);
    await Promise.all(stopped.map((running) => running.pull.close()));
    try {
      const info = await session.jsm.streams.info(stream);
      const start: Partial<ConsumerConfig> =
        position.from === "beginning" || (position.from === "offset" && position.offset <= 1)
          ? { deliver_policy: DeliverPolicy.All, opt_start_seq: undefined, opt_start_time: undefined }
          : position.from === "time"
            ? {
                deliver_policy: DeliverPolicy.StartTime,
                opt_start_time: position.time.toISOString(),
                opt_start_seq: undefined,
              }
            : {
                deliver_policy: DeliverPolicy.StartSequence,
                opt_start_seq: position.offset,
                opt_start_time: undefined,
              };
      try {
        await session.jsm.consumers.delete(stream, name);
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
      this.replays.set(replayKey(channel, subscription), {
        mark: replayMark(position),
        until: info.state.last_seq,
        start,
      });
      await this.declareConsumer(session, channel, subscription);
      return { stream, consumer: name, lastSequence: info.state.last_seq };
    } finally {
      for (const running of stopped)
        if (this.running.has(running)) running.pull = this.pull(channel, subscription, running.handler);
    }
  }

  async deleteSubscription(channel: Channel, subscription: SubscriptionTarget): Promise<void> {
    await this.stop(
      (running) =>
        isOf(running, channel) &&
        running.subscription.namespace === subscription.namespace &&
        running.subscription.name === subscription.name,
    );
    this.replays.delete(replayKey(channel, subscription));
    const { jsm } = await this.connection.ready();
    try {
      await jsm.consumers.delete(streamName(channel), consumerName(subscription));
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
  }

  private async stop(matches: (running: Running) => boolean): Promise<void> {
    const stopping = [...this.running].filter(matches);
    for (const running of stopping) this.running.delete(running);
    await Promise.all(stopping.map((running) => running.pull.close()));
  }

  /** Connected, and JetStream answers (an account info request within 2 s). */
  async isReady(): Promise<boolean> {
    const session = await within(this.connection.ready(), 2_000);
    if (!session) return false;
    return (await within(session.jsm.getAccountInfo(), 2_000)) !== undefined;
  }

  async close(): Promise<void> {
    await this.stop(() => true);
    await this.connection.close();
    this.deadlines.close("the adapter is closed");
  }
}

/** The Broker class Knative's NATS broker registers (eventing-natss `pkg/broker/constants`). */
const NATS_BROKER_CLASS = "NatsJetStreamBroker";

export const natsChannelPlugin = defineChannelPlugin({
  kind: natsJetStreamChannelNames,
  specSchema: natsJetStreamChannelSpecSchema,
  config: natsConfig,
  brokerClasses: [NATS_BROKER_CLASS],
  create: ({ config, logger }) => new NatsChannelAdapter(config, logger),
});
