import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * A small tmpfs mounted on a new temporary folder: a real file system that fills up (ENOSPC), for
 * disk-full tests. Mounting needs root (CI runs as root); otherwise resolves with the reason, for the
 * test's skip message.
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
