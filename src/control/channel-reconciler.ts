import { coreKinds, type ChannelResource } from "../resources/kinds.js";
import type { Admission } from "./admission.js";
import {
  mirrorBacking,
  type BackingChannelDeps,
  type BackingProblem,
  type BackingRequest,
} from "./backing-channels.js";
import { channelConditions as conditions } from "./conditions.js";
import type { EventPolicyReconciler } from "./event-policies.js";
import type { StatusWriter } from "./status.js";

/**
 * messaging.knative.dev Channel (Knative's channel controller): asks for a backing channel of its
 * channelTemplate's kind with its own name and delivery, and mirrors its address and readiness.
 */
export class ChannelReconciler {
  constructor(
    private readonly deps: Pick<BackingChannelDeps, "kinds" | "store"> & {
      readonly admission: Admission;
      readonly status: StatusWriter;
      /** The EventPolicies that apply (Knative's authorization). */
      readonly eventPolicies?: EventPolicyReconciler | undefined;
    },
  ) {}

  requests(): BackingRequest[] {
    return this.channels().map((channel) => this.requestOf(channel));
  }

  /** Status after the backing channels ran; `problems` are the materialisation failures by owner uid. */
  report(problems: ReadonlyMap<string, BackingProblem>): void {
    for (const channel of this.channels()) {
      const problem = problems.get(channel.metadata.uid);
      const { status } = this.deps;
      if (problem) {
        status.set(channel, {
          ...channel.status,
          conditions: status.conditions(channel, [
            conditions.markFalse("BackingChannelReady", problem.reason, problem.message),
            conditions.markUnknown("Addressable", "NoAddress"),
          ]),
        });
        continue;
      }
      const mirrored = mirrorBacking(
        this.deps,
        this.requestOf(channel),
        "BackingChannelReady",
        "BackingChannelNotReady",
      );
      if (!mirrored) continue;
      const { backing, condition } = mirrored;
      const address = backing.status.address;
      const policies = this.deps.eventPolicies;
      const applied = policies?.statusOf(
        policies.applyingTo(coreKinds.channel.group, coreKinds.channel.kind, channel),
      );
      const { policies: _previous, ...previous } = channel.status;
      status.set(channel, {
        ...previous,
        channel: { apiVersion: backing.apiVersion, kind: backing.kind, name: backing.metadata.name },
        ...(address ? { address } : {}),
        ...(applied?.policies ? { policies: applied.policies } : {}),
        conditions: status.conditions(channel, [
          address ? conditions.markTrue("Addressable") : conditions.markFalse("Addressable", "NoAddress"),
          condition,
          ...(applied ? [applied.condition] : []),
        ]),
      });
    }
  }

  private channels(): ChannelResource[] {
    return this.deps.store.list(coreKinds.channel);
  }

  private requestOf(channel: ChannelResource): BackingRequest {
    return {
      owner: channel,
      name: channel.metadata.name,
      template: this.deps.admission.templateOf(channel.spec),
      delivery: channel.spec.delivery,
    };
  }
}
