import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { RunningService, TestService } from "./services.js";

const run = promisify(execFile);

/**
 * A small tmpfs mounted on a new temporary folder: a real file system that fills up (ENOSPC), for
 * disk-full tests. Mounting needs root (CI runs as root); otherwise resolves with the reason, and the
 * test fails with it (a disk-full test never passes without a full disk).
 */
export async function mountTmpfs(
  sizeBytes: number,
): Promise<{ dir: string; unmount: () => Promise<void> } | string> {
  const dir = await mkdtemp(join(tmpdir(), "herald-tmpfs-"));
  try {
    await run("mount", ["-t", "tmpfs", "-o", `size=${sizeBytes}`, "tmpfs", dir]);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    return `cannot mount a tmpfs to fill up (needs root): ${(error as Error).message.split("\n")[0]}`;
  }
  return {
    dir,
    unmount: async () => {
      await run("umount", [dir]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The ability to mount a small tmpfs (disk-full tests): checked once before the files that need it,
 * so a machine without it fails the run up front, naming the reason.
 */
export const tmpfsService: TestService = {
  name: "tmpfs",
  async start(): Promise<RunningService> {
    const disk = await mountTmpfs(64 * 1024);
    if (typeof disk === "string") throw new Error(disk);
    await disk.unmount();
    return { env: {}, stop: async () => {} };
  },
};
