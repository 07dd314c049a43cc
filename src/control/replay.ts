import type { Logger } from "pino";
import { replayMark, replayRefused, type ReplaySupport, type SeekResult } from "../../adapters/adapter.js";
import { HeraldError } from "../errors.js";
import {
  parseReplayFrom,
  REPLAY_FROM_ANNOTATION,
  type ReplayFrom,
} from "../resources/delivery-annotations.js";
import { coreKinds } from "../resources/kinds.js";
import type { ChannelRuntime } from "./directory.js";
import type { ResourceStore } from "./store.js";
import type { ConsumerReplays, SubscriptionReconciler } from "./subscription-reconciler.js";
import type { DesiredSubscription } from "./subscriptions.js";

/** What a replay answers: the resource, its channel, where it starts, and the backend's facts. */
export interface ReplayAnswer {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly channel: string;
  /** The value replayed events carry in `heraldreplay`. */
  readonly mark: string;
  readonly backend: SeekResult;
}

/** Where the start position of the replay-from annotation stands, in `status.replay.start`. */
interface StartOutcome {
  readonly from: string;
  readonly applied?: string;
  readonly error?: string;
}

export interface ReplayDeps {
  readonly store: ResourceStore;
  readonly logger: Logger;
  readonly consumers: () => SubscriptionReconciler;
}

/**
 * Replays of Subscriptions and Triggers (`POST .../subscriptions/{name}/replay`, `herald replay`,
 * the `herald.dev/replay-from` annotation): each becomes a `seek` of the consumer's position on its
 * channel's adapter. A backend that cannot replay, or not from that kind of position, is refused
 * with BadRequest naming `from`; each Subscription's and Trigger's `status.replay` says what its
 * channel supports.
 *
 * The annotation is applied once per resource uid, when its consumer first runs, and recorded in
 * `status.replay.start.applied`; a Herald that stops before that status is stored applies it again
 * at its next start (the events are then handed over again: at-least-once).
 */
export class ReplayService implements ConsumerReplays {
  private readonly starts = new Map<string, StartOutcome>();

  constructor(private readonly deps: ReplayDeps) {}

  /** Replays a Subscription or Trigger from `from` (`beginning`, an RFC 3339 time or an offset). */
  async replay(
    kind: "Subscription" | "Trigger",
    namespace: string,
    name: string,
    from: unknown,
  ): Promise<ReplayAnswer> {
    const position = parseReplayFrom(from);
    if (typeof position === "string")
      throw new HeraldError("BadRequest", `from: ${position}`, { field: "from" });
    const resource = this.resourceOf(kind, namespace, name);
    if (!resource) throw new HeraldError("NotFound", `${kind} ${namespace}/${name} not found`);
    const consumer = this.deps.consumers().consumerOf(resource.metadata.uid);
    if (!consumer)
      throw new HeraldError(
        "Conflict",
        `${kind} ${namespace}/${name} is not consuming from its channel (see its status): a replay needs it running`,
      );
    const backend = await this.seek(consumer.channel, consumer.target, position);
    this.deps.logger.info(
      { kind, subscription: `${namespace}/${name}`, from: replayMark(position), backend },
      "replay started",
    );
    return {
      kind,
      namespace,
      name,
      channel: consumer.channel.key,
      mark: replayMark(position),
      backend,
    };
  }

  private async seek(
    channel: ChannelRuntime,
    target: DesiredSubscription["adapterTarget"],
    position: ReplayFrom,
  ): Promise<SeekResult> {
    const { adapter } = channel;
    const refused = replayRefused(adapter.kind, channel.target, supportOf(channel), position);
    if (refused) throw refused;
    if (!adapter.seek) throw new HeraldError("BadRequest", `from: ${adapter.kind} cannot replay`);
    return adapter.seek(channel.target, target, position);
  }

  /** A consumer started: applies its replay-from annotation once per uid. */
  async started(desired: DesiredSubscription, channel: ChannelRuntime): Promise<void> {
    const kind = desired.kind === "Trigger" ? "Trigger" : "Subscription";
    const resource = this.resourceOf(kind, desired.namespace, desired.name);
    const from = resource?.metadata.annotations?.[REPLAY_FROM_ANNOTATION];
    if (!resource || from === undefined || resource.metadata.uid !== desired.uid) return;
    const recorded = (resource.status as { replay?: { start?: StartOutcome } }).replay?.start;
    if (this.starts.has(desired.uid) || (recorded?.applied && recorded.from === from)) return;
    const position = parseReplayFrom(from);
    if (typeof position === "string") return;
    try {
      await this.seek(channel, desired.adapterTarget, position);
      this.starts.set(desired.uid, { from, applied: new Date().toISOString() });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.deps.logger.warn(
        { subscription: `${desired.namespace}/${desired.name}`, err: error },
        `the ${REPLAY_FROM_ANNOTATION} annotation could not be applied`,
      );
      this.starts.set(desired.uid, { from, error: message });
    }
  }

  /** `status.replay`: what the channel can replay from, and the annotation's outcome. */
  statusOf(uid: string, channel: ChannelRuntime | undefined): Record<string, unknown> {
    const start = this.starts.get(uid) ?? this.recordedStart(uid);
    if (!channel && !start) return {};
    const support = channel && supportOf(channel);
    return {
      replay: {
        ...(support
          ? support.replayable
            ? { replayable: true, from: support.from }
            : { replayable: false, reason: support.reason }
          : {}),
        ...(start ? { start } : {}),
      },
    };
  }

  private resourceOf(kind: "Subscription" | "Trigger", namespace: string, name: string) {
    return kind === "Trigger"
      ? this.deps.store.get(coreKinds.trigger, namespace, name)
      : this.deps.store.get(coreKinds.subscription, namespace, name);
  }

  private recordedStart(uid: string): StartOutcome | undefined {
    const resources = [
      ...this.deps.store.list(coreKinds.subscription),
      ...this.deps.store.list(coreKinds.trigger),
    ];
    const resource = resources.find((r) => r.metadata.uid === uid);
    if (!resource) return undefined;
    const recorded = (resource.status as { replay?: { start?: StartOutcome } }).replay?.start;
    const from = resource.metadata.annotations?.[REPLAY_FROM_ANNOTATION];
    return recorded && recorded.from === from ? recorded : undefined;
  }
}

function supportOf(channel: ChannelRuntime): ReplaySupport {
  const { adapter } = channel;
  if (!adapter.seek || !adapter.replaySupport)
    return { replayable: false, reason: `${adapter.kind} keeps no events once delivered` };
  return adapter.replaySupport(channel.target);
}
