import { audienceOf, subjectOf } from "../auth/identity.js";
import { compileTriggerFilter, type EventPredicate } from "../filters/trigger-filter.js";
import type { Resource } from "../resources/common.js";
import { coreKinds, type EventPolicyResource, type KindRegistry } from "../resources/kinds.js";
import { matchesLabels } from "../resources/policy.js";
import { groupOf } from "../resources/sinks.js";
import type { AddressPolicy, AuthorizationMode, CompiledPolicy } from "../ingress/authorization.js";
import { ConditionSet, type ConditionInput } from "./conditions.js";
import type { StatusWriter } from "./status.js";
import type { ResourceStore } from "./store.js";

/** EventPolicy (Knative's eventPolicyCondSet). */
export const eventPolicyConditions = new ConditionSet("AuthenticationEnabled", "SubjectsResolved");

const POLICY_API_VERSION = "eventing.knative.dev/v1alpha1";

/** What `status.policies` lists (Knative duck/v1 AppliedEventPolicyRef). */
export interface AppliedEventPolicyRef {
  readonly apiVersion: string;
  readonly name: string;
}

export interface EventPolicySettings {
  /** Knative's `authentication-oidc` feature flag. */
  readonly oidc: boolean;
  readonly defaultMode: AuthorizationMode;
}

interface Evaluated {
  readonly ready: boolean;
  readonly subjects: readonly string[];
  readonly compiled: CompiledPolicy;
}

/**
 * EventPolicy (Knative's pkg/reconciler/eventpolicy and pkg/auth/event_policy.go): resolves each
 * policy's `from` into OIDC subjects (`status.from`), marks it Ready only with OIDC ingress
 * authentication on, and tells the Brokers and Channels which Ready policies apply to them
 * (`status.policies`, `EventPoliciesReady`) and ingress what to enforce.
 */
export class EventPolicyReconciler {
  private evaluated = new Map<string, Evaluated>();
  /** Compiled filters by uid and generation: compiled once per generation, never per event. */
  private filters = new Map<string, { generation: number; filter: EventPredicate }>();

  constructor(
    private readonly deps: {
      readonly kinds: KindRegistry;
      readonly store: ResourceStore;
      readonly status: StatusWriter;
      readonly settings: EventPolicySettings;
    },
  ) {}

  get enabled(): boolean {
    return this.deps.settings.oidc;
  }

  /** The audience an addressable announces, with the feature on (Knative: only then). */
  audience(group: string, kind: string, namespace: string, name: string): string | undefined {
    return this.enabled ? audienceOf(group, kind, namespace, name) : undefined;
  }

  /** Writes every policy's status; run first in a pass, before the addressables report. */
  reconcile(): void {
    const { store, status } = this.deps;
    const evaluated = new Map<string, Evaluated>();
    const filters = new Map<string, { generation: number; filter: EventPredicate }>();
    for (const policy of store.list(coreKinds.eventPolicy)) {
      const { uid, generation, name } = policy.metadata;
      const previous = this.filters.get(uid);
      const filter =
        previous && previous.generation === generation
          ? previous.filter
          : compileTriggerFilter({ filters: policy.spec.filters });
      filters.set(uid, { generation, filter });
      const inputs: ConditionInput[] = [];
      let subjects: string[] = [];
      if (!this.enabled) {
        inputs.push(
          eventPolicyConditions.markFalse(
            "AuthenticationEnabled",
            "OIDCAuthenticationDisabled",
            "OIDC ingress authentication is off (HERALD_AUTHENTICATION_OIDC=enabled turns it on): " +
              "this policy is not enforced",
          ),
          eventPolicyConditions.markUnknown("SubjectsResolved", "OIDCAuthenticationDisabled"),
        );
      } else {
        inputs.push(eventPolicyConditions.markTrue("AuthenticationEnabled"));
        const resolved = this.resolveSubjects(policy);
        if (typeof resolved === "string") {
          inputs.push(eventPolicyConditions.markFalse("SubjectsResolved", "SubjectsNotResolved", resolved));
        } else {
          subjects = resolved;
          inputs.push(eventPolicyConditions.markTrue("SubjectsResolved"));
        }
      }
      const ready = inputs.every((input) => input.status === "True");
      status.set(policy, {
        ...(subjects.length > 0 ? { from: subjects } : {}),
        conditions: status.conditions(policy, inputs),
      });
      evaluated.set(uid, { ready, subjects, compiled: { name, subjects, filter } });
    }
    this.evaluated = evaluated;
    this.filters = filters;
  }

  /**
   * The policies applying to a resource (Knative GetEventPoliciesForResource): those of its
   * namespace with no `to`, or a `to` ref naming its group, kind and name, or a `to` selector of its
   * group and kind matching its labels; sorted by name.
   */
  applyingTo(group: string, kind: string, resource: Resource<string, unknown>): EventPolicyResource[] {
    const { namespace, name, labels } = resource.metadata;
    const same = (apiVersion: string, wantedKind: string) =>
      groupOf(apiVersion).toLowerCase() === group.toLowerCase() &&
      wantedKind.toLowerCase() === kind.toLowerCase();
    return this.deps.store
      .list(coreKinds.eventPolicy, namespace)
      .filter(({ spec }) => {
        if (!spec.to || spec.to.length === 0) return true;
        return spec.to.some(({ ref, selector }) =>
          ref
            ? same(ref.apiVersion, ref.kind) && ref.name.toLowerCase() === name.toLowerCase()
            : selector !== undefined &&
              same(selector.apiVersion, selector.kind) &&
              matchesLabels(selector, labels),
        );
      })
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  }

  /**
   * `status.policies` and the `EventPoliciesReady` condition of an addressable (Knative
   * UpdateStatusWithProvidedEventPolicies): the Ready policies are listed; one not Ready makes the
   * condition False; with none, it is True with the default mode (or why authorization is off).
   */
  statusOf(policies: readonly EventPolicyResource[]): {
    policies?: AppliedEventPolicyRef[];
    condition: ConditionInput;
  } {
    const type = "EventPoliciesReady";
    // Knative refuses an EventPolicy while authentication-oidc is off; Herald stores it, not Ready
    // (see reconcile), and the addressable stays Ready, saying which policies are not enforced.
    if (!this.enabled && policies.length > 0)
      return {
        condition: {
          type,
          status: "True",
          reason: "OIDCDisabled",
          message:
            `event policies ${policies.map((policy) => policy.metadata.name).join(", ")} are not enforced: ` +
            'feature "authentication-oidc" must be enabled to support Authorization (HERALD_AUTHENTICATION_OIDC)',
        },
      };
    if (policies.length === 0) {
      return {
        condition: this.enabled
          ? {
              type,
              status: "True",
              reason: "DefaultAuthorizationMode",
              message: `Default authz mode is "${this.deps.settings.defaultMode}"`,
            }
          : {
              type,
              status: "True",
              reason: "OIDCDisabled",
              message: 'Feature "authentication-oidc" must be enabled to support Authorization',
            },
      };
    }
    const ready = policies.filter((policy) => this.evaluated.get(policy.metadata.uid)?.ready);
    const unready = policies.filter((policy) => !this.evaluated.get(policy.metadata.uid)?.ready);
    const applied = ready.map((policy) => ({ apiVersion: POLICY_API_VERSION, name: policy.metadata.name }));
    return {
      ...(applied.length > 0 ? { policies: applied } : {}),
      condition:
        unready.length === 0
          ? { type, status: "True" }
          : {
              type,
              status: "False",
              reason: "EventPoliciesNotReady",
              message: `event policies ${unready.map((policy) => policy.metadata.name).join(", ")} are not ready`,
            },
    };
  }

  /** What ingress enforces at an address: its audience and the Ready policies that apply. */
  addressPolicy(
    audience: string,
    namespace: string,
    policies: readonly EventPolicyResource[],
  ): AddressPolicy {
    const compiled: CompiledPolicy[] = [];
    for (const policy of policies) {
      const evaluated = this.evaluated.get(policy.metadata.uid);
      if (evaluated?.ready) compiled.push(evaluated.compiled);
    }
    return { audience, namespace, policies: compiled, defaultMode: this.deps.settings.defaultMode };
  }

  /**
   * `spec.from` as OIDC subjects (Knative ResolveSubjects): a `sub` as written; a `ref` to the
   * identity Herald sends as for that Trigger, Subscription or source, which must exist. Returns why
   * not when one does not resolve.
   */
  private resolveSubjects(policy: EventPolicyResource): string[] | string {
    const subjects: string[] = [];
    for (const [index, from] of (policy.spec.from ?? []).entries()) {
      if (from.sub !== undefined && from.sub !== "") {
        subjects.push(from.sub);
        continue;
      }
      const ref = from.ref!;
      const namespace = ref.namespace ?? policy.metadata.namespace;
      const at = `spec.from[${index}].ref`;
      const definition = this.deps.kinds.find(ref.apiVersion, ref.kind);
      if (!definition) return `${at}: Herald does not serve ${ref.apiVersion} ${ref.kind}`;
      if (!["trigger", "subscription", "source"].includes(definition.role))
        return `${at}: a ${ref.kind} sends no events with an identity of its own (use a Trigger, Subscription or source)`;
      if (!this.deps.store.get(definition, namespace, ref.name))
        return `${at}: ${ref.kind} ${namespace}/${ref.name} not found`;
      subjects.push(subjectOf(definition.group, definition.kind, namespace, ref.name));
    }
    return subjects;
  }
}
