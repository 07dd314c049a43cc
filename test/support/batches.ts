/**
 * Runs test files in a few processes, each running its share one file after another
 * (test/support/batch.ts), and sums up the run: test/run.ts uses it for the files that need no
 * service. The shares are balanced by how long each file took last time (kept in
 * node_modules/.cache/herald/test-durations.json; a file's size stands in until then).
 *
 * Each process's report (node:test's spec reporter) is printed when that process ends, so reports
 * do not interleave; the summary at the end counts every test, names each failing one with its
 * file, and names every file that did not finish (its process exited or was killed before). The run
 * fails when any test or file failed, any file did not finish, or a process exited with an error.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { BatchRecord } from "./batch-reporter.js";

const DURATIONS_FILE = "node_modules/.cache/herald/test-durations.json";

function readDurations(): Record<string, number> {
  try {
    return JSON.parse(readFileSync(DURATIONS_FILE, "utf8")) as Record<string, number>;
  } catch {
    return {};
  }
}

/** Splits the files into `count` shares of about the same expected duration, longest first. */
function share(files: readonly string[], count: number, durations: Record<string, number>): string[][] {
  const known = files.filter((file) => durations[file] !== undefined);
  // Without timings, a file's size in bytes stands in for its duration, in the same unit for all.
  const cost = (file: string) => (known.length === files.length ? durations[file]! : statSync(file).size);
  const shares = Array.from({ length: Math.min(count, files.length) }, () => ({
    files: [] as string[],
    cost: 0,
  }));
  for (const file of [...files].sort((a, b) => cost(b) - cost(a))) {
    const lightest = shares.reduce((least, candidate) => (candidate.cost < least.cost ? candidate : least));
    lightest.files.push(file);
    lightest.cost += cost(file);
  }
  return shares.map((entry) => entry.files);
}

interface BatchResult {
  readonly files: readonly string[];
  readonly code: number;
  readonly records: readonly BatchRecord[];
}

function runBatch(files: readonly string[], reportFile: string): Promise<BatchResult> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--test-reporter=spec",
        "--test-reporter-destination=stdout",
        "--test-reporter=./test/support/batch-reporter.ts",
        "--test-reporter-destination=stderr",
        // The process ends once its tests are done, even if a timer or socket one leaked is pending.
        "--test-force-exit",
        "test/support/batch.ts",
        ...files,
      ],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, HERALD_TEST_REPORT: reportFile } },
    );
    const output: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => output.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => output.push(chunk));
    child.on("close", (code, signal) => {
      process.stdout.write(Buffer.concat(output));
      let text = "";
      try {
        text = readFileSync(reportFile, "utf8");
      } catch {
        // No report at all: every file of this batch is listed as not finished below.
      }
      const records = text
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as BatchRecord);
      resolve({ files, code: code ?? (signal ? 1 : 0), records });
    });
  });
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Runs the files in `processes` processes; resolves true when every test passed. */
export async function runInBatches(files: readonly string[], processes: number): Promise<boolean> {
  const since = Date.now();
  const durations = readDurations();
  const shares = share(files, processes, durations);
  console.log(`${files.length} files needing no service, in ${shares.length} processes`);
  const reports = mkdtempSync(join(tmpdir(), "herald-tests-"));
  let results: BatchResult[];
  try {
    results = await Promise.all(
      shares.map((batch, index) => runBatch(batch, join(reports, `${index}.jsonl`))),
    );
  } finally {
    rmSync(reports, { recursive: true, force: true });
  }
  const records = results.flatMap((result) => result.records);
  const tests = records.flatMap((record) => (record.kind === "test" ? [record] : []));
  const finished = records.flatMap((record) => (record.kind === "file" ? [record] : []));
  const count = (outcome: string) => tests.filter((test) => test.outcome === outcome).length;
  const unfinished = results.flatMap((result) =>
    result.files
      .filter((file) => !finished.some((record) => record.file === file))
      .map((file) => `${file} (its process exited with code ${result.code} before it finished)`),
  );
  const failedFiles = finished.filter((record) => !record.ok);
  const failedTests = tests.filter((test) => test.outcome === "fail" || test.outcome === "cancelled");

  for (const record of finished) durations[record.file] = Math.round(record.ms);
  mkdirSync(dirname(DURATIONS_FILE), { recursive: true });
  writeFileSync(DURATIONS_FILE, `${JSON.stringify(durations, null, 2)}\n`);

  const slowest = [...finished].sort((a, b) => b.ms - a.ms).slice(0, 8);
  console.log(
    `\nslowest files: ${slowest.map((record) => `${record.file} ${seconds(record.ms)}`).join(", ")}`,
  );
  console.log(
    `${finished.length} of ${files.length} files, ${tests.length} tests: ${count("pass")} passed, ` +
      `${count("fail")} failed, ${count("cancelled")} cancelled, ${count("skip")} skipped, ` +
      `${count("todo")} todo, in ${seconds(Date.now() - since)}`,
  );
  for (const test of failedTests)
    console.log(`  failed: ${test.file}: ${test.name}${test.error ? `: ${test.error}` : ""}`);
  for (const record of failedFiles.filter((file) => !failedTests.some((test) => test.file === file.file)))
    console.log(`  failed: ${record.file}${record.error ? `: ${record.error}` : ""}`);
  for (const file of unfinished) console.log(`  did not finish: ${file}`);
  const crashed = results.filter(
    (result) => result.code !== 0 && failedFiles.length + failedTests.length === 0,
  );
  for (const result of crashed)
    console.log(`  a process exited with code ${result.code} (files ${result.files.join(", ")})`);
  return failedFiles.length + failedTests.length + unfinished.length + crashed.length === 0;
}
