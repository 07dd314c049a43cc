import { mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";

/**
 * How tests start the `herald` command in a process of its own. `test/run.ts` bundles
 * src/cli/main.ts once per run with esbuild (the transformer tsx itself uses; third-party packages
 * stay external and load from node_modules) and names the bundle in HERALD_TEST_ENTRY. A process
 * started from it spends about half the CPU time of one that resolves and transforms each of
 * Herald's TypeScript modules through tsx, and test files start dozens. A test file run on its own,
 * without the runner, starts the command through tsx.
 */
export function heraldCommand(...args: string[]): string[] {
  const entry = process.env.HERALD_TEST_ENTRY;
  return entry ? [entry, ...args] : ["--import", "tsx", "src/cli/main.ts", ...args];
}

const root = resolve(import.meta.dirname, "../..");

/**
 * Bundles the command for this run, from the sources as they are now, inside node_modules so its
 * imports of third-party packages resolve. Returns the bundle's path and a function removing it.
 */
export async function bundleHeraldCommand(): Promise<{ entry: string; remove: () => void }> {
  const { build } = await import("esbuild");
  const dir = join(root, "node_modules", ".cache", "herald");
  mkdirSync(dir, { recursive: true });
  const entry = join(dir, `herald-${process.pid}.mjs`);
  await build({
    entryPoints: [join(root, "src/cli/main.ts")],
    outfile: entry,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    logLevel: "warning",
  });
  return { entry, remove: () => rmSync(entry, { force: true }) };
}
