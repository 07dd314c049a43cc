import { watch, type FSWatcher } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { HeraldError } from "../errors.js";
import { kindFor } from "../resources/kinds.js";
import { parseManifests } from "../resources/validation.js";
import type { ControlPlane } from "./control-plane.js";

const MANIFEST_FILE = /\.(ya?ml|json)$/;

/**
 * `herald serve --config DIR`: applies every manifest file of a folder at start and again whenever
 * the folder changes. A resource that disappears from the folder is deleted. Each file is applied
 * all or nothing; a file with an error is reported and the rest still applies.
 */
export class ConfigDirectory {
  private readonly fromFiles = new Map<
    string,
    { apiVersion: string; kind: string; namespace: string; name: string }[]
  >();
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly controlPlane: ControlPlane,
    private readonly logger: Logger,
  ) {}

  /** Loads the folder; resolves when every file was applied (or reported). */
  load(): Promise<void> {
    const run = () => this.sync();
    this.running = this.running.then(run, run);
    return this.running;
  }

  watch(): void {
    this.watcher = watch(this.dir, () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.load(), 150);
    });
  }

  close(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
  }

  private async sync(): Promise<void> {
    const files = (await readdir(this.dir)).filter((file) => MANIFEST_FILE.test(file)).sort();
    const seen = new Set<string>();
    for (const file of files) {
      seen.add(file);
      try {
        const manifests = parseManifests(await readFile(join(this.dir, file), "utf8"), file);
        const previous = this.fromFiles.get(file) ?? [];
        await this.controlPlane.apply(manifests);
        const now = manifests.map((m) => ({
          apiVersion: m.apiVersion,
          kind: m.kind,
          namespace: m.metadata.namespace,
          name: m.metadata.name,
        }));
        this.fromFiles.set(file, now);
        await this.deleteMissing(previous.filter((p) => !now.some((n) => sameResource(n, p))));
      } catch (error) {
        const details = error instanceof HeraldError ? error.details : undefined;
        this.logger.error(
          { file, err: error instanceof Error ? error.message : error, details },
          "config file not applied",
        );
      }
    }
    for (const [file, previous] of this.fromFiles) {
      if (seen.has(file)) continue;
      this.fromFiles.delete(file);
      await this.deleteMissing(previous);
    }
  }

  private async deleteMissing(
    resources: { apiVersion: string; kind: string; namespace: string; name: string }[],
  ): Promise<void> {
    for (const resource of resources) {
      const definition = kindFor(resource.apiVersion, resource.kind);
      if (!definition) continue;
      await this.controlPlane.delete(definition, resource.namespace, resource.name).catch(() => undefined);
    }
  }
}

function sameResource(
  a: { kind: string; namespace: string; name: string },
  b: { kind: string; namespace: string; name: string },
): boolean {
  return a.kind === b.kind && a.namespace === b.namespace && a.name === b.name;
}
