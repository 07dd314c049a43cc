/**
 * Runs several test files in this one process, one after another:
 *
 *   node --import tsx [--test-reporter ...] test/support/batch.ts FILE...
 *
 * Starting a process, tsx and Herald's modules costs more than most unit test files take, so
 * test/run.ts hands each of a few processes a share of the files instead of one process per file.
 * Each file runs as a suite named by its path, holding the file's tests and its `before`/`after`
 * hooks; the next file is imported only once that suite is over (its `after` hooks included), so two
 * files never run at the same time. A file that leaves process.env or the working directory changed
 * fails, naming what it left, since the files after it would otherwise see it. A file whose test
 * awaits something that never comes fails when FILE_TIMEOUT_MS is up, and the files after it run.
 */
import { after, describe } from "node:test";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

/** The longest a test, or a whole file, may take: a hung test fails instead of holding the run. */
const FILE_TIMEOUT_MS = 180_000;

interface ProcessState {
  readonly env: Record<string, string | undefined>;
  readonly cwd: string;
}

const snapshot = (): ProcessState => ({ env: { ...process.env }, cwd: process.cwd() });

/** What a file changed in the process state and left so. */
function leftovers(before: ProcessState): string[] {
  const names = new Set([...Object.keys(before.env), ...Object.keys(process.env)]);
  const changed = [...names].filter((name) => before.env[name] !== process.env[name]).sort();
  return [
    ...changed.map((name) => `process.env.${name}`),
    ...(process.cwd() === before.cwd ? [] : [`the working directory (${process.cwd()})`]),
  ];
}

const files = process.argv.slice(2);
// node:test fails every test still pending once nothing is left to wait for: a test stuck on a
// promise that never settles would take the files waiting for their turn with it.
const keepAlive = setInterval(() => {}, 60_000);
let remaining = files.length;

let previous: Promise<void> = Promise.resolve();
for (const file of files) {
  const turn = previous;
  let done!: () => void;
  previous = new Promise((resolve) => (done = resolve));
  describe(file, { timeout: FILE_TIMEOUT_MS }, async () => {
    // Awaiting a promise made here keeps the tests the file declares inside this suite: node:test
    // finds a test's parent through the async context the promise was created in.
    await new Promise<void>((resolve) => void turn.then(resolve));
    const before = snapshot();
    try {
      await import(pathToFileURL(resolve(file)).href);
    } finally {
      // Registered after the file's own hooks, so it runs last.
      after(() => {
        if (--remaining === 0) clearInterval(keepAlive);
        done();
        const left = leftovers(before);
        if (left.length > 0) throw new Error(`${file} left ${left.join(", ")} changed`);
      });
    }
  });
}
