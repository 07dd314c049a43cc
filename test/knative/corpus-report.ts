import type { KnativeRefusal } from "./knative-accepts.js";

export type Outcome = "ready" | "not-ready" | "refused" | "left-aside";

export interface DocumentResult {
  id: number;
  file: string;
  /** The page or sample folder the document was applied with. */
  unit: string;
  kind: string;
  name: string | null;
  outcome: Outcome;
  reason?: string;
  /** Set when current Knative refuses the document too; it then counts outside the target. */
  knativeRefuses?: KnativeRefusal;
  /** Set when the reason names an object no document of the unit defines (a prerequisite). */
  outsideUnit?: string | undefined;
  /** Objects from other pages applied for the document's unit before it was measured, with their files. */
  prerequisite?: string | undefined;
}

const OUTCOMES: Outcome[] = ["ready", "not-ready", "refused", "left-aside"];

/** A reason without the names of the document's own objects, so that alike reasons count together. */
function reasonClass(result: DocumentResult): string {
  const reason = (result.reason ?? "").split("; ")[0]!.replace(/^(kind: Herald does not run \w+).*/, "$1");
  return reason
    .replace(
      /\b(Broker|Trigger|ConfigMap|Secret|Sequence|Parallel|RabbitmqCluster|RabbitmqBrokerConfig|JobSink|Subscription|EventTransform|Channel)\s+[\w.<>-]+\/[\w.<>-]+/g,
      "$1 NS/NAME",
    )
    .replace(/\bkind: (\w+) [\w-]+\/[\w-]+ /, "kind: $1 NS/NAME ")
    .slice(0, 140);
}

const table = (rows: Map<string, number>) =>
  [...rows].sort((a, b) => b[1] - a[1]).map(([reason, count]) => `  ${String(count).padStart(4)}  ${reason}`);

/** The summary printed by the corpus test: the target's numbers, then the gap reason by reason. */
export function corpusSummary(results: readonly DocumentResult[], units: number, report: string): string {
  const count = (list: readonly DocumentResult[], outcome: Outcome) =>
    list.filter((r) => r.outcome === outcome).length;
  const refusedByKnative = results.filter((r) => r.knativeRefuses);
  const accepted = results.filter((r) => !r.knativeRefuses);
  const ready = count(accepted, "ready");
  const byRule = new Map<string, number>();
  for (const r of refusedByKnative)
    byRule.set(r.knativeRefuses!.rule, (byRule.get(r.knativeRefuses!.rule) ?? 0) + 1);
  const gap = new Map<string, number>();
  for (const r of accepted.filter((a) => a.outcome !== "ready")) {
    const key = r.outsideUnit
      ? `${r.outcome}: needs a ${r.outsideUnit.split(" ")[0]} its page or sample does not define`
      : `${r.outcome}: ${reasonClass(r)}`;
    gap.set(key, (gap.get(key) ?? 0) + 1);
  }
  const percent = accepted.length ? ((100 * ready) / accepted.length).toFixed(1) : "0";
  return [
    `Knative corpus: ${results.length} documents in ${units} units (pages and sample folders)`,
    ...OUTCOMES.map((o) => `  ${o.padEnd(12)} ${count(results, o)}`),
    `Refused by current Knative too: ${refusedByKnative.length} (${[...byRule].map(([rule, n]) => `${rule} ${n}`).join(", ")})` +
      `, of which Herald made Ready: ${count(refusedByKnative, "ready")}`,
    `Target: ${ready} Ready of the ${accepted.length} documents Knative accepts = ${percent}%` +
      ` (not Ready ${count(accepted, "not-ready")}, refused ${count(accepted, "refused")}, left aside ${count(accepted, "left-aside")})`,
    `Of the Ready, ${accepted.filter((r) => r.outcome === "ready" && r.prerequisite).length} were measured beside a prerequisite: ` +
      "an object their page names but does not define, applied from the page of the corpus that defines it",
    `Of those not Ready, ${accepted.filter((r) => r.outsideUnit).length} name an object their page or sample does not define ` +
      "(a prerequisite from elsewhere; Knative leaves them not Ready too until the reader creates it)",
    "Why the other documents Knative accepts are not Ready:",
    ...table(gap),
    `  ${"kind".padEnd(22)} ${OUTCOMES.map((o) => o.padStart(12)).join("")}`,
    ...[...new Set(accepted.map((r) => r.kind))].sort().map((kind) => {
      const ofKind = accepted.filter((r) => r.kind === kind);
      return `  ${kind.padEnd(22)} ${OUTCOMES.map((o) => String(count(ofKind, o)).padStart(12)).join("")}`;
    }),
    `every document's outcome: ${report}`,
  ].join("\n");
}
