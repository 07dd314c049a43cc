import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import type { AttributeValue } from "../../src/events/event.js";
import { CesqlParseError, parseCesql } from "../../src/filters/cesql/index.js";

/**
 * The official CESQL test kit (`cesql/cesql_tck/` of cloudevents/spec), every case. The kit is not
 * part of this repository: it is read from `shared/cesql-tck/`, beside the repository's folder.
 */
interface TckCase {
  name: string;
  /** Unquoted YAML (`expression: TRUE`, `expression: 0`) arrives as a boolean or number. */
  expression: string | number | boolean;
  result?: string | number | boolean;
  error?: string;
  event?: Record<string, AttributeValue>;
  eventOverrides?: Record<string, AttributeValue>;
}

const repositoryRoot = resolve(import.meta.dirname, "../..");
const folder = resolve(repositoryRoot, "../shared/cesql-tck");
const defaultEvent = { specversion: "1.0", id: "myId", source: "localhost.localdomain", type: "myType" };

const files = existsSync(folder)
  ? readdirSync(folder)
      .filter((f) => f.endsWith(".yaml"))
      .sort()
  : [];
if (files.length === 0) {
  // Not a skip: a missing kit would otherwise pass as zero cases.
  it("finds the CESQL TCK", () => {
    assert.fail(
      `no CESQL TCK YAML files in ${folder}: put the cesql/cesql_tck/ folder of ` +
        "https://github.com/cloudevents/spec there (beside this repository, as shared/cesql-tck/)",
    );
  });
}

for (const file of files) {
  const suite = parse(readFileSync(join(folder, file), "utf8")) as { name: string; tests: TckCase[] };
  describe(`CESQL TCK: ${suite.name}`, () => {
    for (const testCase of suite.tests) {
      const expression = String(testCase.expression);
      it(`${testCase.name}: ${expression}`, () => {
        if (testCase.error === "parse") {
          assert.throws(() => parseCesql(expression), CesqlParseError);
          return;
        }
        const compiled = parseCesql(expression);
        const attributes = { ...(testCase.event ?? defaultEvent), ...testCase.eventOverrides };
        const { value, errors } = compiled.evaluate({ attributes });
        if (testCase.result !== undefined) assert.deepEqual(value, testCase.result);
        if (testCase.error) {
          assert.ok(
            errors.some((e) => e.kind === testCase.error),
            `expected a ${testCase.error} error, got ${JSON.stringify(errors)}`,
          );
        } else {
          assert.deepEqual(errors, []);
        }
      });
    }
  });
}
