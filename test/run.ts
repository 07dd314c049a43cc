/**
 * The runner behind `npm test`, `npm run test:unit` and `npm run test:integration`:
 *
 *   tsx test/run.ts [--unit | --integration] [--list] [filter...]
 *
 * It selects every `*.test.ts` under test/ whose path contains one of the filters (every file
 * without one); `--unit` keeps the files that need no service, `--integration` those that need one.
 * A file names the services it needs in a header comment on its first lines, `// needs: kafka,
 * rabbitmq` (the names in test/support/services.ts); a file without one needs none. `--list` prints
 * the selected files and what each needs, and runs nothing.
 *
 * Files that need nothing run first, shared among a few processes that each run their files one after
 * another (test/support/batches.ts): starting a process per file cost more than most files take. Then
 * the services the remaining files need,
 * and only those, are started or reused (their addresses exported through the environment), those
 * files run one at a time, since they share the brokers and some disturb a broker on purpose
 * (closing its connections, stopping it), and what this run started is stopped.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, relative } from "node:path";
import { runInBatches } from "./support/batches.js";
import { bundleHeraldCommand } from "./support/entry.js";
import { isServiceName, services, type RunningService, type ServiceName } from "./support/services.js";

/**
 * Processes running the files that need no service: two per core, at most four. Most files spend
 * much of their time waiting (for a schedule, a retry, a process), so one per core leaves cores idle.
 */
const UNIT_PROCESSES = Math.min(4, 2 * availableParallelism());
const TEST_TIMEOUT_MS = 180_000;

function findTests(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((entry) => {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) return entry === "node_modules" ? [] : findTests(path);
      return entry.endsWith(".test.ts") ? [path] : [];
    });
}

/** The services named by the `// needs:` line among the comments that open the file. */
function neededServices(file: string): ServiceName[] {
  const lines = readFileSync(file, "utf8").split("\n");
  for (const line of lines) {
    const text = line.trim();
    const header = /^\/\/\s*needs:(.*)$/.exec(text);
    if (header) {
      const names = header[1]!
        .split(",")
        .map((name) => name.trim())
        .filter(Boolean);
      for (const name of names) {
        if (!isServiceName(name)) {
          throw new Error(
            `${file}: unknown service "${name}" in its needs: header (known: ${Object.keys(services).join(", ")})`,
          );
        }
      }
      return names as ServiceName[];
    }
    const isComment = text === "" || text.startsWith("//") || text.startsWith("/*") || text.startsWith("*");
    if (!isComment) break;
  }
  // A needs: line below the imports would be missed, and the file run without its services.
  const misplaced = lines.findIndex((line) => /^\s*\/\/\s*needs:/.test(line));
  if (misplaced !== -1) {
    throw new Error(`${file}:${misplaced + 1}: move the "// needs:" header to the first lines of the file`);
  }
  return [];
}

const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;

function runTests(files: string[], concurrency: number): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--test",
        `--test-concurrency=${concurrency}`,
        `--test-timeout=${TEST_TIMEOUT_MS}`,
        // A file whose tests are done ends even if a timer or socket it leaked is still pending.
        "--test-force-exit",
        ...files,
      ],
      { stdio: "inherit" },
    );
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const args = process.argv.slice(2);
const only = args.includes("--unit") ? "unit" : args.includes("--integration") ? "integration" : "all";
const unknownFlag = args.find(
  (arg) => arg.startsWith("--") && !["--unit", "--integration", "--list"].includes(arg),
);
if (unknownFlag) {
  console.error(
    `unknown option ${unknownFlag}; usage: tsx test/run.ts [--unit | --integration] [--list] [filter...]`,
  );
  process.exit(2);
}
const filters = args.filter((arg) => !arg.startsWith("--")).map((arg) => arg.replace(/^\.\//, ""));

const selected = findTests("test")
  .map((path) => relative(".", path))
  .filter((path) => filters.length === 0 || filters.some((filter) => path.includes(filter)))
  .map((path) => {
    try {
      return { path, needs: neededServices(path) };
    } catch (error) {
      console.error((error as Error).message);
      process.exit(2);
    }
  });
const unitFiles = only === "integration" ? [] : selected.filter((file) => file.needs.length === 0);
const integrationFiles = only === "unit" ? [] : selected.filter((file) => file.needs.length > 0);
const needed = [...new Set(integrationFiles.flatMap((file) => file.needs))].sort();

if (unitFiles.length + integrationFiles.length === 0) {
  console.error(`no ${only === "all" ? "" : `${only} `}test file matches ${filters.join(" ") || "test/"}`);
  process.exit(1);
}

if (args.includes("--list")) {
  for (const file of [...unitFiles, ...integrationFiles]) {
    console.log(file.needs.length > 0 ? `${file.path}  (needs: ${file.needs.join(", ")})` : file.path);
  }
  process.exit(0);
}

// Ctrl-C reaches the test processes too; let them end, then stop the services this run started.
let interrupted = false;
process.on("SIGINT", () => {
  interrupted = true;
});

// Tests that start `herald` as a process start it from one bundle of today's sources (see entry.ts).
const bundle = await bundleHeraldCommand();
process.env.HERALD_TEST_ENTRY = bundle.entry;
process.on("exit", bundle.remove);

let failed = false;
if (unitFiles.length > 0) {
  failed = !(await runInBatches(
    unitFiles.map((file) => file.path),
    UNIT_PROCESSES,
  ));
}

if (integrationFiles.length > 0 && !interrupted) {
  const started: RunningService[] = [];
  try {
    console.log(`${count(integrationFiles.length, "file")} needing ${needed.join(", ")}, run one at a time`);
    const results = await Promise.allSettled(
      needed.map(async (name) => {
        const since = Date.now();
        const running = await (await services[name]()).start();
        started.push(running);
        Object.assign(process.env, running.env);
        const address = Object.entries(running.env).map(([key, value]) => `${key}=${value}`);
        console.log(`${name} ready in ${((Date.now() - since) / 1000).toFixed(1)} s (${address.join(" ")})`);
      }),
    );
    const unreachable = results.find((result) => result.status === "rejected");
    if (unreachable) throw unreachable.reason;
    failed =
      (await runTests(
        integrationFiles.map((file) => file.path),
        1,
      )) !== 0 || failed;
  } catch (error) {
    console.error(error);
    failed = true;
  } finally {
    for (const running of started.reverse()) {
      await running.stop().catch((error: unknown) => console.error("failed to stop a service:", error));
    }
  }
}
process.exit(failed || interrupted ? 1 : 0);
