import { open } from "node:fs/promises";

/** Makes a folder's entries (a file created or renamed in it) durable. */
export async function syncFolder(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
