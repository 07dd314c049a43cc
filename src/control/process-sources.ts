import type { SourceFactory } from "../../sources/source.js";
import type { Resource } from "../resources/common.js";
import type { KindNames } from "../resources/kind.js";
import type { Manifest, Problem } from "../resources/validation.js";

/** Where an apply comes from: the resource API, or the `--config` folder of whoever runs Herald. */
export type ApplyOrigin = "api" | "config";

/** The reason a source that would run a process shows when it is not allowed to. */
export const PROCESS_SOURCES_DISABLED = "ProcessSourcesDisabled";

/**
 * Source kinds that run a process on Herald's host (ProcessSource, `SourceFactory.runsProcesses`)
 * run only when Herald was started with `--allow-process-sources` (HERALD_ALLOW_PROCESS_SOURCES), or
 * when the resource was applied from the `--config` folder. Otherwise applying one through the API
 * is refused (422), and one stored earlier (applied while the flag was given) is kept but not run:
 * its Ready is False with reason ProcessSourcesDisabled.
 */
export class ProcessSourceGate {
  private readonly kinds: ReadonlySet<string>;
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
  }

  /** Whether resources of a kind run a process. */
  runsProcesses(kind: Pick<KindNames, "group" | "kind">): boolean {
    return this.kinds.has(keyOf(kind));
  }

  /** Why manifests applied from `origin` may not be: one problem per manifest of such a kind. */
  problems(manifests: readonly Manifest[], origin: ApplyOrigin): Problem[] {
    if (this.isAllowed || origin === "config") return [];
    const problems: Problem[] = [];
    manifests.forEach((manifest, index) => {
      if (!this.runsProcesses(manifest.definition)) return;
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

  /** Whether a stored resource of a kind that runs a process may run. */
  mayRun(resource: Resource<string, unknown>): boolean {
    return this.isAllowed || this.fromConfigFolder.has(resource.metadata.uid);
  }

  /** What to do about it, for errors and status. */
  remedy(): string {
    return "process sources are disabled; start Herald with --allow-process-sources (HERALD_ALLOW_PROCESS_SOURCES=true), or put the resource in the --config folder";
  }
}

function keyOf(kind: Pick<KindNames, "group" | "kind">): string {
  return `${kind.group}/${kind.kind}`;
}
