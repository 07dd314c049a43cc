import { randomUUID } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { syncFolder } from "./files.js";

/** A subscription's committed position: every record before it was acknowledged. */
export interface Offset {
  readonly namespace: string;
  readonly name: string;
  readonly position: number;
}

/** A replay under way: records before `until` are handed over marked with `mark`. */
export interface StoredReplay {
  readonly until: number;
  readonly mark: string;
}

export type StoredOffset = number | "missing" | { readonly corrupt: string };

/**
 * The committed positions of a channel's subscriptions, one small JSON file each
 * (`subscriptions/<namespace>/<name>`), named after the subscription's namespace and name like every
 * backend's durable state. A file is replaced atomically (written beside it, then renamed over it), so
 * a crash leaves the old position or the new one, never a mix. Regular commits are not synced: a
 * crash of the machine may bring an older position back, which means redelivery (at-least-once),
 * never loss. The first position of a new subscription is synced, file and folder, because its
 * existence decides where the subscription starts.
 */
export class OffsetStore {
  constructor(readonly dir: string) {}

  private fileOf(namespace: string, name: string): string {
    return join(this.dir, namespace, name);
  }

  async read(namespace: string, name: string): Promise<StoredOffset> {
    let text: string;
    try {
      text = await readFile(this.fileOf(namespace, name), "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return "missing";
      throw error;
    }
    return parseOffset(text);
  }

  /** The replay in progress stored with the subscription's position, if any (see `write`). */
  async readReplay(namespace: string, name: string): Promise<StoredReplay | undefined> {
    let parsed: { replay?: { until?: unknown; mark?: unknown } };
    try {
      parsed = JSON.parse(await readFile(this.fileOf(namespace, name), "utf8")) as typeof parsed;
    } catch {
      return undefined;
    }
    const { until, mark } = parsed.replay ?? {};
    return typeof until === "number" && typeof mark === "string" ? { until, mark } : undefined;
  }

  /**
   * Replaces the subscription's position, with the replay in progress (records before `until` are
   * marked as replayed, see ChannelAdapter.seek); `durable` syncs the file and its folder first.
   */
  async write(
    namespace: string,
    name: string,
    position: number,
    durable: boolean,
    replay?: StoredReplay,
  ): Promise<void> {
    const folder = join(this.dir, namespace);
    await mkdir(folder, { recursive: true });
    // Beside the target (same file system, so the rename is atomic), under a name no subscription has.
    const temporary = join(this.dir, `.${randomUUID()}.tmp`);
    const handle = await open(temporary, "w");
    try {
      await handle.writeFile(
        `${JSON.stringify({ position, subscription: `${namespace}/${name}`, ...(replay ? { replay } : {}) })}\n`,
      );
      if (durable) await handle.datasync();
    } finally {
      await handle.close();
    }
    try {
      await rename(temporary, this.fileOf(namespace, name));
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    if (durable) {
      await syncFolder(folder);
      await syncFolder(this.dir);
    }
  }

  /** Removes the temporary files of writes a crash interrupted. */
  async removeLeftovers(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    for (const name of names)
      if (name.startsWith(".") && name.endsWith(".tmp")) await rm(join(this.dir, name), { force: true });
  }

  async remove(namespace: string, name: string): Promise<void> {
    await rm(this.fileOf(namespace, name), { force: true });
  }

  /** Every subscription with a stored position (a corrupt file counts as position 0: keep everything). */
  async list(): Promise<Offset[]> {
    let namespaces: string[];
    try {
      namespaces = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    const offsets: Offset[] = [];
    for (const namespace of namespaces) {
      if (namespace.startsWith(".")) continue;
      let names: string[];
      try {
        names = await readdir(join(this.dir, namespace));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "ENOENT" || code === "ENOTDIR") continue;
        throw error;
      }
      for (const name of names) {
        const stored = await this.read(namespace, name);
        if (stored === "missing") continue;
        offsets.push({ namespace, name, position: typeof stored === "number" ? stored : 0 });
      }
    }
    return offsets;
  }
}

function parseOffset(text: string): StoredOffset {
  try {
    const parsed = JSON.parse(text) as { position?: unknown };
    if (typeof parsed.position === "number" && Number.isSafeInteger(parsed.position) && parsed.position >= 0)
      return parsed.position;
    return { corrupt: "it holds no position" };
  } catch (error) {
    return { corrupt: (error as Error).message };
  }
}
