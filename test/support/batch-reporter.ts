/**
 * A node:test reporter for test/run.ts: one JSON line per finished test or file (see BatchRecord),
 * from which the runner sums up the run of several processes, lists every failing test by file and
 * name, and learns how long each file takes. The lines are appended to the file named by
 * HERALD_TEST_REPORT as each test ends, synchronously: `--test-force-exit` ends the process without
 * waiting for a reporter's stream to flush, and the last file's results would be lost.
 */
import { appendFileSync } from "node:fs";

/** A file of test/support/batch.ts finished (`nesting` 0), or a test in it. */
export type BatchRecord =
  | {
      readonly kind: "file";
      readonly file: string;
      readonly ok: boolean;
      readonly ms: number;
      readonly error?: string;
    }
  | {
      readonly kind: "test";
      readonly file: string;
      readonly name: string;
      readonly outcome: "pass" | "fail" | "skip" | "todo" | "cancelled";
      readonly error?: string;
    };

interface TestEvent {
  readonly type: string;
  readonly data: {
    readonly name: string;
    readonly nesting: number;
    readonly file?: string;
    readonly skip?: unknown;
    readonly todo?: unknown;
    readonly details: {
      readonly duration_ms: number;
      readonly type?: string;
      readonly error?: { readonly failureType?: string; readonly message?: string; readonly cause?: unknown };
    };
  };
}

function errorText(error: TestEvent["data"]["details"]["error"]): string | undefined {
  if (!error) return undefined;
  const cause = error.cause instanceof Error ? error.cause.message : undefined;
  return cause ?? error.message;
}

/** A test's record, but for its file: the file suite that ends next is the one it belongs to. */
type TestRecord = Omit<Extract<BatchRecord, { kind: "test" }>, "file">;

function recordOf({ type, data }: TestEvent): BatchRecord | TestRecord | undefined {
  if (type !== "test:pass" && type !== "test:fail") return undefined;
  const failed = type === "test:fail";
  const error = failed ? errorText(data.details.error) : undefined;
  if (data.nesting === 0) {
    return {
      kind: "file",
      file: data.name,
      ok: !failed,
      ms: data.details.duration_ms,
      ...(error ? { error } : {}),
    };
  }
  if (data.details.type === "suite") return undefined;
  const outcome = failed
    ? data.details.error?.failureType === "cancelledByParent"
      ? "cancelled"
      : "fail"
    : data.skip
      ? "skip"
      : data.todo
        ? "todo"
        : "pass";
  return { kind: "test", name: data.name, outcome, ...(error ? { error } : {}) };
}

export default async function* batchReporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const path = process.env.HERALD_TEST_REPORT;
  if (!path) throw new Error("batch-reporter.ts writes to the file named by HERALD_TEST_REPORT");
  const write = (record: BatchRecord) => appendFileSync(path, `${JSON.stringify(record)}\n`);
  // Files run one after another in a process, so a file's tests finish before its suite does.
  let pending: TestRecord[] = [];
  for await (const event of source) {
    const record = recordOf(event);
    if (!record) continue;
    if (record.kind === "test") {
      pending.push(record);
      continue;
    }
    for (const test of pending) write({ ...test, file: record.file });
    pending = [];
    write(record);
  }
  yield* [];
}
