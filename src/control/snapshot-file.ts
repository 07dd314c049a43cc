import { chmod, link, mkdir, open, readdir, readFile, rename, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import type { Resource } from "../resources/common.js";

export interface Snapshot {
  version: number;
  resources: Resource[];
}

type ReadResult =
  | { state: "missing" }
  | { state: "good"; saved: Snapshot }
  | { state: "corrupt"; reason: string; empty: boolean };

const SNAPSHOT_FILE = "resources.json";

/**
 * The resource store's file: one JSON snapshot (`resources.json`) in the data directory.
 *
 * A write replaces the snapshot atomically and durably: the temporary file is fsynced, renamed over
 * the snapshot, and the directory is fsynced, so a crash or power loss leaves either the old or the
 * new set, never half of one. The snapshot being replaced is kept as `resources.json.bak`. At start
 * a snapshot that is empty or not valid JSON is reported with its path and the backup is loaded
 * instead (the unreadable file is kept aside as `resources.json.corrupt-{time}`); temporary files
 * left by an interrupted write are removed. The directory is created 0700 and the files 0600.
 */
export class SnapshotFile {
  readonly file: string;
  private readonly backupFile: string;
  /** Whether the file at `file` is a good snapshot, to keep as the backup when it is replaced. */
  private fileIsGood = false;

  constructor(
    private readonly dataDir: string,
    private readonly logger: Logger,
  ) {
    this.file = join(dataDir, SNAPSHOT_FILE);
    this.backupFile = `${this.file}.bak`;
  }

  /** Creates the data directory, cleans up an interrupted write, and reads the snapshot to start from. */
  async open(): Promise<Snapshot | undefined> {
    await mkdir(this.dataDir, { recursive: true, mode: 0o700 });
    const { mode } = await stat(this.dataDir);
    if ((mode & 0o077) !== 0) {
      this.logger.warn(
        { dataDir: this.dataDir, mode: (mode & 0o777).toString(8) },
        "the data directory is open to other users; it holds Secrets: make it 0700",
      );
    }
    await this.removeStaleTemporaries();
    return this.readAtStart();
  }

  /** Which snapshot to start from: the file, its backup when the file is unreadable, or none. */
  private async readAtStart(): Promise<Snapshot | undefined> {
    const main = await readSnapshot(this.file);
    if (main.state === "good") {
      this.fileIsGood = true;
      // Written 0644 by versions before this one; it holds Secrets.
      await chmod(this.file, 0o600);
      return main.saved;
    }
    if (main.state === "missing") return undefined;
    this.logger.error(
      { file: this.file, reason: main.reason },
      "the resource snapshot is empty or not valid JSON; trying its backup",
    );
    const backup = await readSnapshot(this.backupFile);
    if (backup.state === "good") {
      const aside = `${this.file}.corrupt-${new Date().toISOString().replace(/[:.]/g, "-")}`;
      await rename(this.file, aside);
      await chmod(this.backupFile, 0o600);
      this.logger.warn(
        { file: this.backupFile, corrupt: aside, resources: backup.saved.resources.length },
        "loaded the backup snapshot; the unreadable one is kept aside",
      );
      return backup.saved;
    }
    if (main.empty && backup.state === "missing") {
      // What an interrupted first write leaves: it never held anything that was acknowledged.
      this.logger.warn(
        { file: this.file },
        "the resource snapshot is empty and has no backup: starting with none",
      );
      return undefined;
    }
    const why = backup.state === "missing" ? "does not exist" : `is not usable either (${backup.reason})`;
    throw new Error(
      `${this.file} is not a resource snapshot (${main.reason}) and its backup ${this.backupFile} ${why}; ` +
        "move them out of the data directory to start with no resources",
    );
  }

  /** Removes `resources.json.*.tmp` files a killed write left behind. */
  private async removeStaleTemporaries(): Promise<void> {
    for (const name of await readdir(this.dataDir)) {
      if (!name.startsWith(`${SNAPSHOT_FILE}.`) || !name.endsWith(".tmp")) continue;
      await unlink(join(this.dataDir, name));
      this.logger.info(
        { file: join(this.dataDir, name) },
        "removed a temporary file left by an interrupted write",
      );
    }
  }

  /** Replaces the snapshot, durably; the one it replaces becomes the backup. */
  async write(snapshot: string): Promise<void> {
    const temporary = `${this.file}.${process.pid}.tmp`;
    try {
      const handle = await open(temporary, "w", 0o600);
      try {
        await handle.writeFile(snapshot);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await this.keepBackup();
      await rename(temporary, this.file);
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw error;
    }
    this.fileIsGood = true;
    // The rename is durable only once the directory entry is.
    const directory = await open(this.dataDir, "r");
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  }

  /** Keeps the snapshot about to be replaced as `resources.json.bak` (a hard link: no copy). */
  private async keepBackup(): Promise<void> {
    if (!this.fileIsGood) return;
    const temporary = `${this.backupFile}.${process.pid}.tmp`;
    try {
      await link(this.file, temporary);
      await rename(temporary, this.backupFile);
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      // The backup is a second chance, not a condition of the write.
      this.logger.warn(
        { file: this.backupFile, err: error },
        "could not keep the previous resource snapshot",
      );
    }
  }
}

async function readSnapshot(file: string): Promise<ReadResult> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { state: "missing" };
    throw error;
  }
  const empty = text.trim() === "";
  if (empty) return { state: "corrupt", reason: "the file is empty", empty };
  let saved: unknown;
  try {
    saved = JSON.parse(text);
  } catch (error) {
    return { state: "corrupt", reason: messageOf(error), empty };
  }
  const snapshot = saved as Partial<Snapshot> | null;
  if (typeof snapshot?.version !== "number" || !Array.isArray(snapshot.resources))
    return { state: "corrupt", reason: "not a snapshot: version or resources is missing", empty };
  return { state: "good", saved: snapshot as Snapshot };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
