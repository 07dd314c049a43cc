import { apiVersionOf, type KindDefinition, type KindRegistry } from "./kinds.js";
import { isServiceKind } from "./sinks.js";
import { unrunKindVerdict } from "./unrun-kinds.js";

/**
 * A document of a kind Herald does not run, left aside when its file is applied: Knative manifests
 * come with Deployments, Services, ServiceAccounts and RBAC, and Herald applies the rest of the file.
 */
export interface LeftAside {
  /** Where the document is: `request body[3]`, `demo.yaml[1]items[0]`, or the source for a lone one. */
  readonly document: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace?: string | undefined;
  readonly name?: string | undefined;
  readonly reason: string;
}

/** What Herald does with a document of this apiVersion and kind. */
export type KindVerdict =
  { readonly served: KindDefinition } | { readonly refused: string } | { readonly leftAside: string };

/** API groups whose kinds are Herald's own: an unknown kind there is a mistake, never left aside. */
const HERALD_GROUP = /(^|\.)herald\.dev$/;

function split(apiVersion: string): { group: string; version: string } {
  const at = apiVersion.lastIndexOf("/");
  return at === -1
    ? { group: "", version: apiVersion }
    : { group: apiVersion.slice(0, at), version: apiVersion.slice(at + 1) };
}

/** Levenshtein distance, up to `limit` + 1 (enough to tell a typo from another kind). */
function distance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * Decides a document's fate from its apiVersion and kind:
 * - a kind Herald serves is validated (and refuses its file when invalid);
 * - a kind Herald serves, written with a version it does not serve, is refused naming the versions;
 * - an unknown kind in one of Herald's own groups, or one a letter away from a kind Herald serves
 *   in that group (`Triger`, `rabbitmqsource`), is refused as a mistake;
 * - a deprecated KafkaBinding is left aside with what to use instead (unrun-kinds.ts);
 * - any other kind (apps/v1 Deployment, v1 Service, serving.knative.dev Service, RBAC, the Knative
 *   kinds Herald does not run) is left aside, with the reason.
 */
export function kindVerdict(kinds: KindRegistry, apiVersion: string, kind: string): KindVerdict {
  const served = kinds.find(apiVersion, kind);
  if (served) return { served };
  const { group } = split(apiVersion);
  const unrun = unrunKindVerdict(group, kind);
  if (unrun) return unrun;
  const inGroup = kinds.all().filter((definition) => definition.group === group);
  const sameKind = inGroup.find((definition) => definition.kind === kind);
  if (sameKind)
    return {
      refused: `${kind} is served as ${sameKind.versions.map((v) => (group ? `${group}/${v}` : v)).join(", ")}, not ${apiVersion}`,
    };
  const near = (limit: number) =>
    inGroup.find(
      (definition) =>
        definition.kind.toLowerCase() === kind.toLowerCase() ||
        distance(definition.kind, kind, limit) <= limit,
    );
  const typo = near(1);
  if (typo) return { refused: `unknown kind ${kind} in ${apiVersion} (did you mean ${typo.kind}?)` };
  if (HERALD_GROUP.test(group)) {
    const known = inGroup.map((definition) => `${apiVersionOf(definition)} ${definition.kind}`);
    return { refused: `unknown kind ${kind} in ${apiVersion} (known: ${known.join(", ") || "none"})` };
  }
  if (isServiceKind(apiVersion, kind))
    return {
      leftAside:
        `Herald does not run ${apiVersion} ${kind}; sinks that reference it resolve by the service URL rule ` +
        "(HERALD_SERVICE_URL_TEMPLATE) or a SinkMapping",
    };
  // Two letters away may be another kind (GitLabSource, GitHubSource): left aside, with the hint.
  const close = near(2);
  return {
    leftAside: `Herald does not run ${apiVersion} ${kind}${close ? ` (did you mean ${close.kind}?)` : ""}`,
  };
}
