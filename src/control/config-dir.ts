import { statSync, watch, type FSWatcher } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { HeraldError } from "../errors.js";
import { readManifests } from "../resources/validation.js";
import type { ResourceService } from "./resource-service.js";

const MANIFEST_FILE = /\.(ya?ml|json)$/;
/** How long a burst of changes settles before the folder is read again. */
const SETTLE_MS = 150;
/** How often a folder that is gone is looked for again. */
const RETURN_POLL_MS = 1_000;

/**
 * `herald serve --config DIR`: applies every manifest file of a folder at start and again whenever
 * the folder changes. A resource that disappears from the folder is deleted. Each file is applied
 * all or nothing; a file with an error is reported and the rest still applies. A document of a kind
 * Herald does not run is left aside, and that is logged once per file and document.
 *
 * While Herald runs, the folder itself may go away (deleted, renamed): that is logged, the
 * resources loaded from it stay as they are, and the path is looked at every second. A folder found
 * there again (or one that replaced the watched folder) is watched and applied as at start: what the
 * old folder defined and the new one lacks is kept, as across a restart, so a folder re-created
 * file by file never deletes resources it is about to define again.
 */
export class ConfigDirectory {
  private readonly fromFiles = new Map<
    string,
    { apiVersion: string; kind: string; namespace: string; name: string }[]
  >();
  /** The left-aside documents already logged, so that a reload does not log them again. */
  private readonly toldAside = new Set<string>();
  /** The watch on the folder, and which folder (device and inode) it follows. */
  private watched: { watcher: FSWatcher; dev: number; ino: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private isGone = false;
  private isClosed = false;

  constructor(
    private readonly dir: string,
    private readonly resources: ResourceService,
    private readonly logger: Logger,
  ) {}

  /**
   * Loads the folder; resolves when every file was applied (or reported), rejects when the folder
   * cannot be read (at start, a missing folder is an error to stop on).
   */
  load(): Promise<void> {
    const run = () => this.sync();
    this.running = this.running.then(run, run);
    return this.running;
  }

  /** Watches the folder and loads it again after each change, until `close()`. */
  watch(): void {
    try {
      this.watchCurrentFolder();
    } catch (error) {
      this.handleUnreadable(error);
    }
  }

  close(): void {
    this.isClosed = true;
    clearTimeout(this.timer);
    this.unwatch();
  }

  private reloadAfter(delayMs: number): void {
    if (this.isClosed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reload(), delayMs);
  }

  /** Makes sure the folder now at the path is the one watched, then loads it; never rejects. */
  private async reload(): Promise<void> {
    try {
      this.watchCurrentFolder();
      await this.load();
    } catch (error) {
      this.handleUnreadable(error);
      return;
    }
    if (this.isGone && !this.isClosed) {
      this.isGone = false;
      this.logger.info({ dir: this.dir }, "config folder is back and loaded");
    }
  }

  /** The folder could not be watched or read: wait for it if it is gone, else for its next change. */
  private handleUnreadable(error: unknown): void {
    if (this.isClosed) return;
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ENOENT" && code !== "ENOTDIR") {
      this.logger.error(
        { dir: this.dir, err: error },
        "config folder not read; it is read again at its next change",
      );
      return;
    }
    if (!this.isGone) {
      this.logger.warn(
        { dir: this.dir },
        "config folder is gone: the resources loaded from it are kept, and the folder is looked for until it is back",
      );
    }
    this.isGone = true;
    this.unwatch();
    this.fromFiles.clear();
    this.reloadAfter(RETURN_POLL_MS);
  }

  /**
   * Watches the folder at `dir` unless it is already watched. A watch follows the folder it was
   * set on, not the path, so a folder that took the path (deleted and created again) is watched anew.
   */
  private watchCurrentFolder(): void {
    const { dev, ino } = statSync(this.dir);
    if (this.watched?.dev === dev && this.watched.ino === ino) return;
    // Another folder took the path: apply it as at start (see above).
    if (this.watched) this.fromFiles.clear();
    this.unwatch();
    const watcher = watch(this.dir, () => this.reloadAfter(SETTLE_MS));
    watcher.on("error", (error) => {
      this.logger.warn({ dir: this.dir, err: error }, "config folder watch failed; setting it again");
      this.unwatch();
      this.reloadAfter(SETTLE_MS);
    });
    this.watched = { watcher, dev, ino };
  }

  private unwatch(): void {
    this.watched?.watcher.close();
    this.watched = undefined;
  }

  private async sync(): Promise<void> {
    const files = (await readdir(this.dir)).filter((file) => MANIFEST_FILE.test(file)).sort();
    const seen = new Set<string>();
    for (const file of files) {
      seen.add(file);
      try {
        const { manifests, leftAside } = readManifests(
          this.resources.kinds,
          await readFile(join(this.dir, file), "utf8"),
          file,
        );
        for (const { document, apiVersion, kind, name, reason } of leftAside) {
          const key = `${document}|${apiVersion}|${kind}|${name}`;
          if (this.toldAside.has(key)) continue;
          this.toldAside.add(key);
          this.logger.info({ file, document, kind, name }, `document left aside: ${reason}`);
        }
        const previous = this.fromFiles.get(file) ?? [];
        await this.resources.apply(manifests, "config");
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
      const definition = this.resources.kinds.find(resource.apiVersion, resource.kind);
      if (!definition) continue;
      await this.resources.delete(definition, resource.namespace, resource.name).catch((error: unknown) => {
        // Already deleted through the API: nothing left to do.
        if (error instanceof HeraldError && error.code === "NotFound") return;
        this.logger.warn(
          { err: error, resource: `${resource.kind} ${resource.namespace}/${resource.name}` },
          "deleting a resource removed from the config folder failed",
        );
      });
    }
  }
}

function sameResource(
  a: { kind: string; namespace: string; name: string },
  b: { kind: string; namespace: string; name: string },
): boolean {
  return a.kind === b.kind && a.namespace === b.namespace && a.name === b.name;
}
