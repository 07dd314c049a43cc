import type { Resource } from "../resources/common.js";
import type { ParallelSpec } from "../resources/flows.js";
import { coreKinds } from "../resources/kinds.js";
import type { BackingProblem, BackingRequest } from "../control/backing-channels.js";
import type { ChannelTemplate } from "../control/brokers.js";
import { ConditionSet } from "../control/conditions.js";
import {
  applySubscriptions,
  channelDestination,
  childStatus,
  deleteUnwantedSubscriptions,
  type ChildStatus,
  type OwnedSubscription,
} from "./owned.js";
import { childrenReady, type FlowDeps } from "./sequence.js";

export type ParallelResource = Resource<"Parallel", ParallelSpec>;

/** flows.knative.dev Parallel (Knative's pCondSet). */
export const parallelConditions = new ConditionSet("ChannelsReady", "SubscriptionsReady", "Addressable");

/** Names of a Parallel's children, as Knative's parallel controller names them. */
export const parallelNames = {
  ingressChannel: (parallel: string) => `${parallel}-kn-parallel`,
  branchChannel: (parallel: string, branch: number) => `${parallel}-kn-parallel-${branch}`,
  filterSubscription: (parallel: string, branch: number) => `${parallel}-kn-parallel-filter-${branch}`,
  subscriberSubscription: (parallel: string, branch: number) => `${parallel}-kn-parallel-${branch}`,
};

/**
 * flows.knative.dev Parallel (Knative's parallel controller): an ingress channel and a channel per
 * branch, of the channelTemplate's kind (else the default channel kind). Per branch, a filter
 * Subscription on the ingress channel sends each event to the branch's filter and its reply to the
 * branch channel (without a filter, every event goes to the branch channel), and a Subscription on
 * the branch channel sends it to the subscriber, replying to the branch's reply, else `spec.reply`.
 */
export class ParallelReconciler {
  private readonly definition: typeof coreKinds.parallel = coreKinds.parallel;
  /** Why a Parallel's Subscriptions could not be written, by its uid, from the last `subscribe`. */
  private failures = new Map<string, string>();

  constructor(private readonly deps: FlowDeps) {}

  requests(): BackingRequest[] {
    return this.parallels().flatMap((parallel) => {
      const { name } = parallel.metadata;
      const template = this.templateOf(parallel);
      const names = [
        parallelNames.ingressChannel(name),
        ...parallel.spec.branches.map((_, branch) => parallelNames.branchChannel(name, branch)),
      ];
      return names.map((child) => ({ owner: parallel, name: child, template, delivery: undefined }));
    });
  }

  async subscribe(problems: ReadonlyMap<string, BackingProblem>): Promise<void> {
    const wanted = new Set<string>();
    const failures = new Map<string, string>();
    for (const parallel of this.parallels()) {
      const subscriptions = this.subscriptionsOf(parallel);
      for (const { name } of subscriptions) wanted.add(`${parallel.metadata.namespace}/${name}`);
      const failure = await applySubscriptions(this.deps, parallel, subscriptions);
      if (failure) failures.set(parallel.metadata.uid, failure);
    }
    await deleteUnwantedSubscriptions(this.deps.store, this.definition.kind, wanted);
    this.failures = failures;
    this.report(problems);
  }

  /** Status: ingressChannelStatus, branchStatuses and the address of the ingress channel. */
  report(problems: ReadonlyMap<string, BackingProblem>): void {
    const { kinds, store, status } = this.deps;
    for (const parallel of this.parallels()) {
      const { namespace, name } = parallel.metadata;
      const template = this.templateOf(parallel);
      const channel = (child: string) =>
        childStatus(kinds, store, {
          apiVersion: template.apiVersion,
          kind: template.kind,
          name: child,
          namespace,
        });
      const subscription = (child: string) =>
        childStatus(kinds, store, {
          apiVersion: "messaging.knative.dev/v1",
          kind: "Subscription",
          name: child,
          namespace,
        });
      const ingress = channel(parallelNames.ingressChannel(name));
      const branches = parallel.spec.branches.map((_, branch) => ({
        filterSubscription: subscription(parallelNames.filterSubscription(name, branch)),
        filterChannel: channel(parallelNames.branchChannel(name, branch)),
        subscriberSubscription: subscription(parallelNames.subscriberSubscription(name, branch)),
      }));
      const channels = [ingress, ...branches.map((b) => b.filterChannel)];
      const subscriptions = branches.flatMap((b) => [b.filterSubscription, b.subscriberSubscription]);
      const ingressDefinition = kinds.find(template.apiVersion, template.kind);
      const address =
        ingressDefinition && store.get(ingressDefinition, namespace, ingress.name)?.status.address;
      const problem = problems.get(parallel.metadata.uid);
      const failure = this.failures.get(parallel.metadata.uid);
      status.set(parallel, {
        ...(address ? { address } : {}),
        ingressChannelStatus: channelEntry(ingress),
        branchStatuses: branches.map((b) => ({
          filterSubscriptionStatus: subscriptionEntry(b.filterSubscription),
          filterChannelStatus: channelEntry(b.filterChannel),
          subscriberSubscriptionStatus: subscriptionEntry(b.subscriberSubscription),
        })),
        conditions: status.conditions(parallel, [
          problem
            ? parallelConditions.markFalse("ChannelsReady", problem.reason, problem.message)
            : childrenReady(parallelConditions, "ChannelsReady", "ChannelsNotReady", channels),
          failure
            ? parallelConditions.markFalse("SubscriptionsReady", "SubscriptionsInvalid", failure)
            : childrenReady(parallelConditions, "SubscriptionsReady", "SubscriptionsNotReady", subscriptions),
          address
            ? parallelConditions.markTrue("Addressable")
            : parallelConditions.markFalse(
                "Addressable",
                "NotAddressable",
                "the ingress channel has no address yet",
              ),
        ]),
      });
    }
  }

  private subscriptionsOf(parallel: ParallelResource): OwnedSubscription[] {
    const { namespace, name } = parallel.metadata;
    const template = this.templateOf(parallel);
    const channelRef = (child: string) => ({
      apiVersion: template.apiVersion,
      kind: template.kind,
      name: child,
    });
    return parallel.spec.branches.flatMap((branch, index): OwnedSubscription[] => {
      const branchChannel = channelDestination(template, namespace, parallelNames.branchChannel(name, index));
      const reply = branch.reply ?? parallel.spec.reply;
      return [
        {
          name: parallelNames.filterSubscription(name, index),
          spec: {
            channel: channelRef(parallelNames.ingressChannel(name)),
            ...(branch.filter
              ? { subscriber: branch.filter, reply: branchChannel }
              : { subscriber: branchChannel }),
          },
        },
        {
          name: parallelNames.subscriberSubscription(name, index),
          spec: {
            channel: channelRef(parallelNames.branchChannel(name, index)),
            subscriber: branch.subscriber,
            ...(reply ? { reply } : {}),
            ...(branch.delivery ? { delivery: branch.delivery } : {}),
          },
        },
      ];
    });
  }

  private templateOf(parallel: ParallelResource): ChannelTemplate {
    return parallel.spec.channelTemplate ?? this.deps.admission.defaultTemplate();
  }

  private parallels(): ParallelResource[] {
    return this.deps.store.list(this.definition);
  }
}

function channelEntry({ ready, ...channel }: ChildStatus) {
  return { channel, ready };
}

function subscriptionEntry({ ready, ...subscription }: ChildStatus) {
  return { subscription, ready };
}
