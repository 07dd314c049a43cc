import { HeraldError } from "../errors.js";
import type { CloudEvent } from "../events/event.js";
import type { IngressVerifier } from "../auth/ingress-verifier.js";

/** Knative's `default-authorization-mode`: what is allowed where no EventPolicy applies. */
export type AuthorizationMode = "allow-same-namespace" | "allow-all" | "deny-all";

/** One Ready EventPolicy as ingress enforces it: its resolved subjects and its compiled filters. */
export interface CompiledPolicy {
  readonly name: string;
  /** Subjects as written in `status.from`; one ending in `*` matches any subject it prefixes. */
  readonly subjects: readonly string[];
  readonly filter: (event: CloudEvent) => boolean;
}

/** What ingress enforces at one address, rebuilt on every reconcile pass. */
export interface AddressPolicy {
  /** The audience a token must name (the addressable's `status.address.audience`). */
  readonly audience: string;
  /** The addressable's namespace, for `allow-same-namespace`. */
  readonly namespace: string;
  /** The Ready policies that apply; when none, `defaultMode` decides. */
  readonly policies: readonly CompiledPolicy[];
  readonly defaultMode: AuthorizationMode;
}

/** Knative SubjectAndFiltersPass: equal ignoring case, or a prefix pattern with a trailing `*`. */
function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern.endsWith("*")) return subject.startsWith(pattern.slice(0, -1));
  return pattern.toLowerCase() === subject.toLowerCase();
}

/**
 * Authorizes one request of `subject` carrying `events` (Knative pkg/auth/verifier.go
 * verifyAuthZBySubjectsWithFilters): with policies, every event must be allowed by a policy that
 * names the subject and whose filters it passes; without, the default mode decides, and
 * `allow-same-namespace` allows the service accounts of the addressable's namespace
 * (`system:serviceaccount:<namespace>:…`). Throws `Forbidden` (403) naming why.
 */
export function authorize(address: AddressPolicy, subject: string, events: readonly CloudEvent[]): void {
  if (address.policies.length === 0) {
    switch (address.defaultMode) {
      case "allow-all":
        return;
      case "deny-all":
        throw new HeraldError(
          "Forbidden",
          "no EventPolicy applies to this address and the default authorization mode is deny-all",
        );
      case "allow-same-namespace":
        if (subject.startsWith(`system:serviceaccount:${address.namespace}:`)) return;
        throw new HeraldError(
          "Forbidden",
          `no EventPolicy applies to this address and the default authorization mode is allow-same-namespace, ` +
            `but the token's subject ${subject} is not a service account of namespace ${address.namespace}`,
        );
    }
  }
  const allowing = address.policies.filter((policy) =>
    policy.subjects.some((pattern) => subjectMatches(pattern, subject)),
  );
  if (allowing.length === 0)
    throw new HeraldError(
      "Forbidden",
      `the token's subject ${subject} is not allowed by the EventPolicies of this address ` +
        `(${address.policies.map((policy) => policy.name).join(", ")})`,
    );
  for (const event of events) {
    if (!allowing.some((policy) => policy.filter(event)))
      throw new HeraldError(
        "Forbidden",
        `event ${String(event.attributes.id)} does not pass the filters of the EventPolicies that allow ` +
          `${subject} (${allowing.map((policy) => policy.name).join(", ")})`,
      );
  }
}

/** The policies of every address, replaced whole on each reconcile pass; looked up per request. */
export class IngressPolicies {
  private addresses = new Map<string, AddressPolicy>();

  replace(addresses: Map<string, AddressPolicy>): void {
    this.addresses = addresses;
  }

  /** By `channels`, `brokers` or `sinks/<plural>`, and the namespace and name. */
  get(kind: string, namespace: string, name: string): AddressPolicy | undefined {
    return this.addresses.get(`${kind}/${namespace}/${name}`);
  }

  /**
   * Authenticates a request to an address (401 without a valid token for its audience, 503 while
   * its audience is not known yet) and answers with the check of its events (403).
   */
  async authenticate(
    verifier: IngressVerifier,
    kind: string,
    namespace: string,
    name: string,
    authorization: string | undefined,
  ): Promise<(events: readonly CloudEvent[]) => void> {
    const address = this.get(kind, namespace, name);
    if (!address)
      throw new HeraldError(
        "BackendUnavailable",
        `${namespace}/${name} is not ready: its audience is not known yet`,
      );
    const subject = await verifier.verify(authorization, address.audience);
    return (events) => authorize(address, subject, events);
  }
}
