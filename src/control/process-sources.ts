import type { SourceFactory } from "../../sources/source.js";
import type { Resource } from "../resources/common.js";
import type { KindNames } from "../resources/kind.js";
import { groupOf } from "../resources/sinks.js";
import type { Manifest, Problem } from "../resources/validation.js";

/** Where an apply comes from: the resource API, or the `--config` folder of whoever runs Herald. */
export type ApplyOrigin = "api" | "config";

/** The reason a source that would run a process shows when it is not allowed to. */
export const PROCESS_SOURCES_DISABLED = "ProcessSourcesDisabled";

/**
 * Source kinds that run a process on Herald's host (ProcessSource, `SourceFactory.runsProcesses`;
 * for a kind that decides per resource, `SourceFactory.runsProcess`, only the resources that do)
 * run only when Herald was started with `--allow-process-sources` (HERALD_ALLOW_PROCESS_SOURCES), or
 * when the resource was applied from the `--config` folder. Otherwise applying one through the API
 * is refused (422), and one stored earlier (applied while the flag was given) is kept but not run:
 * its Ready is False with reason ProcessSourcesDisabled.
 */
export class ProcessSourceGate {
  private readonly kinds: ReadonlySet<string>;
  /** For the kinds whose resources decide (`SourceFactory.runsProcess`), by kind. */
  private readonly decides: ReadonlyMap<string, (spec: Record<string, unknown>) => boolean>;
  /** The uids of such resources last applied from the config folder. */
  private readonly fromConfigFolder = new Set<string>();

  constructor(
    sources: readonly SourceFactory[],
    readonly isAllowed: boolean,
    /** Other kinds that run processes (JobSink). */
    others: readonly Pick<KindNames, "group" | "kind">[] = [],
  ) {
    this.kinds = new Set([
      ...sources.filter((source) => source.runsProcesses).map((source) => keyOf(source)),
      ...others.map((kind) => keyOf(kind)),
    ]);
    this.decides = new Map(
      sources.flatMap((source) =>
        source.runsProcesses && source.runsProcess
          ? [[keyOf(source), (spec: Record<string, unknown>) => source.runsProcess!(spec)] as const]
          : [],
      ),
    );
  }

  /** Whether resources of a kind run a process. */
  runsProcesses(kind: Pick<KindNames, "group" | "kind">): boolean {
    return this.kinds.has(keyOf(kind));
  }

  /** Whether one resource of a kind runs a process (every one does, unless its kind decides). */
  runsProcess(kind: Pick<KindNames, "group" | "kind">, spec: unknown): boolean {
    const key = keyOf(kind);
    if (!this.kinds.has(key)) return false;
    const decide = this.decides.get(key);
    return decide ? decide(spec as Record<string, unknown>) : true;
  }

  /** Why manifests applied from `origin` may not be: one problem per manifest that runs a process. */
  problems(manifests: readonly Manifest[], origin: ApplyOrigin): Problem[] {
    if (this.isAllowed || origin === "config") return [];
    const problems: Problem[] = [];
    manifests.forEach((manifest, index) => {
      if (!this.runsProcess(manifest.definition, manifest.spec)) return;
      problems.push({
        path: manifests.length > 1 ? `[${index}].kind` : "kind",
        message: `${manifest.kind} ${manifest.metadata.namespace}/${manifest.metadata.name} would run a command on Herald's host: ${this.remedy()}`,
      });
    });
    return problems;
  }

  /** Remembers which applied resources came from the config folder. */
  record(applied: readonly Resource[], origin: ApplyOrigin): void {
    for (const resource of applied) {
      if (origin === "config") this.fromConfigFolder.add(resource.metadata.uid);
      else this.fromConfigFolder.delete(resource.metadata.uid);
    }
  }

  forget(resource: Resource): void {
    this.fromConfigFolder.delete(resource.metadata.uid);
  }

  /** Whether a stored resource of a kind that runs processes may run: it runs none, or is allowed to. */
  mayRun(resource: Resource<string, unknown>): boolean {
    if (this.isAllowed || this.fromConfigFolder.has(resource.metadata.uid)) return true;
    return !this.runsProcess({ group: groupOf(resource.apiVersion), kind: resource.kind }, resource.spec);
  }

  /** What to do about it, for errors and status. */
  remedy(): string {
    return "process sources are disabled; start Herald with --allow-process-sources (HERALD_ALLOW_PROCESS_SOURCES=true), or put the resource in the --config folder";
  }
}

function keyOf(kind: Pick<KindNames, "group" | "kind">): string {
  return `${kind.group}/${kind.kind}`;
}
