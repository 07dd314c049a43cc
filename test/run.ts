/**
 * `npm test`: starts the services the suite needs (see test/support/services.ts), runs every
 * `*.test.ts` under test/ with Node's test runner, then stops what it started.
 * Pass file paths or a substring to run a subset: `npm test -- kafka`.
 */
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { services, type RunningService } from "./support/services.js";

function findTests(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((entry) => {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) return entry === "node_modules" ? [] : findTests(path);
      return entry.endsWith(".test.ts") ? [path] : [];
    });
}

const filters = process.argv.slice(2);
const files = findTests("test")
  .map((path) => relative(".", path))
  .filter((path) => filters.length === 0 || filters.some((filter) => path.includes(filter)));

const started: RunningService[] = [];
let exitCode: number | undefined;
try {
  const results = await Promise.allSettled(
    services.map(async (service) => {
      process.stdout.write(`starting ${service.name}...\n`);
      const running = await service.start();
      started.push(running);
      Object.assign(process.env, running.env);
    }),
  );
  const failed = results.find((result) => result.status === "rejected");
  if (failed) throw failed.reason;
  exitCode = await new Promise<number>((resolve) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "--test", "--test-concurrency=1", "--test-timeout=180000", ...files],
      { stdio: "inherit" },
    );
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
} finally {
  for (const running of started.reverse()) {
    await running.stop().catch((error: unknown) => console.error("failed to stop a service:", error));
  }
}
process.exit(exitCode ?? 1);
