import { coreKinds, type BrokerResource } from "../resources/kinds.js";
import type { Admission } from "./admission.js";
import {
  mirrorBacking,
  type BackingChannelDeps,
  type BackingProblem,
  type BackingRequest,
} from "./backing-channels.js";
import {
  brokerChannelName,
  brokerChannelTemplate,
  type ChannelTemplate,
  type KafkaServers,
} from "./brokers.js";
import { brokerConditions as conditions, type ConditionInput } from "./conditions.js";
import { resolveDestination, UnresolvableDestination } from "./destinations.js";
import type { EventPolicyReconciler } from "./event-policies.js";
import type { StatusWriter } from "./status.js";

/**
 * eventing.knative.dev Broker (Knative's channel-based broker): asks for a trigger channel of the
 * kind its class or `spec.config` names, and is addressable at its ingress once that channel is ready.
 */
export class BrokerReconciler {
  constructor(
    private readonly deps: Pick<BackingChannelDeps, "kinds" | "store"> & {
      readonly admission: Admission;
      readonly status: StatusWriter;
      /** Broker class → the channel kind it runs on, from the channel plug-ins. */
      readonly classes: ReadonlyMap<string, ChannelTemplate>;
      brokerAddress(namespace: string, name: string): string;
      /** Audiences and the EventPolicies that apply (Knative's OIDC and authorization). */
      readonly eventPolicies?: EventPolicyReconciler | undefined;
      /** The Kafka Kafka Brokers run on, to check a Kafka broker ConfigMap's bootstrap.servers. */
      readonly kafka?: KafkaServers | undefined;
      /** The service URL rule, to resolve a dead-letter sink that is a Service. */
      readonly serviceUrlTemplate: string;
    },
  ) {}

  requests(): BackingRequest[] {
    return this.brokers().flatMap((broker) => {
      const request = this.requestOf(broker);
      return typeof request === "string" ? [] : [request];
    });
  }

  report(problems: ReadonlyMap<string, BackingProblem>): void {
    const { status } = this.deps;
    for (const broker of this.brokers()) {
      const request = this.requestOf(broker);
      const problem: BackingProblem | undefined =
        typeof request === "string"
          ? { reason: "ConfigInvalid", message: request }
          : problems.get(broker.metadata.uid);
      if (problem || typeof request === "string") {
        status.set(broker, {
          ...broker.status,
          conditions: status.conditions(broker, [
            conditions.markFalse("TriggerChannelReady", problem!.reason, problem!.message),
            conditions.markUnknown("Addressable", "NoTriggerChannel"),
          ]),
        });
        continue;
      }
      const mirrored = mirrorBacking(this.deps, request, "TriggerChannelReady", "ChannelNotReady");
      if (!mirrored) continue;
      const { backing, condition } = mirrored;
      const { namespace, name } = broker.metadata;
      const url = this.deps.brokerAddress(namespace, name);
      const policies = this.deps.eventPolicies;
      const audience = policies?.audience(coreKinds.broker.group, coreKinds.broker.kind, namespace, name);
      const address = { name: "http", url, ...(audience ? { audience } : {}) };
      const applied = policies?.statusOf(
        policies.applyingTo(coreKinds.broker.group, coreKinds.broker.kind, broker),
      );
      const deadLetter = this.deadLetterSinkOf(broker);
      status.set(broker, {
        address,
        addresses: [address],
        channel: { apiVersion: backing.apiVersion, kind: backing.kind, name: backing.metadata.name },
        ...(applied?.policies ? { policies: applied.policies } : {}),
        ...(deadLetter?.url ? { deliveryStatus: { deadLetterSinkUri: deadLetter.url } } : {}),
        conditions: status.conditions(broker, [
          conditions.markTrue("Addressable"),
          condition,
          ...(deadLetter ? [deadLetter.condition] : []),
          ...(applied ? [applied.condition] : []),
        ]),
      });
    }
  }

  /**
   * Knative's DeadLetterSinkResolved, when `spec.delivery.deadLetterSink` is set: a Broker whose
   * dead-letter sink does not resolve is not Ready, rather than Ready and dropping what fails.
   */
  private deadLetterSinkOf(broker: BrokerResource): { url?: string; condition: ConditionInput } | undefined {
    const sink = broker.spec.delivery?.deadLetterSink;
    if (!sink) return undefined;
    const { store, kinds, serviceUrlTemplate } = this.deps;
    try {
      const url = resolveDestination({ store, kinds, serviceUrlTemplate }, sink, broker.metadata.namespace);
      return { url, condition: conditions.markTrue("DeadLetterSinkResolved") };
    } catch (error) {
      if (!(error instanceof UnresolvableDestination)) throw error;
      return {
        condition: conditions.markFalse(
          "DeadLetterSinkResolved",
          "Unable to get the dead letter sink's URI",
          `spec.delivery.deadLetterSink: ${error.message}`,
        ),
      };
    }
  }

  private brokers(): BrokerResource[] {
    return this.deps.store.list(coreKinds.broker);
  }

  private requestOf(broker: BrokerResource): BackingRequest | string {
    const template = brokerChannelTemplate(
      this.deps.store,
      broker,
      this.deps.classes,
      this.deps.admission.defaultTemplate(),
      this.deps.kafka,
    );
    if (typeof template === "string") return template;
    return { owner: broker, name: brokerChannelName(broker.metadata.name), template, delivery: undefined };
  }
}
