import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import { describe, it } from "node:test";
import { ConfigError, loadConfig } from "../../src/config.js";

describe("the workers setting (serve --workers, HERALD_WORKERS)", () => {
  it("is 1 by default, a count, or auto for one per available core", () => {
    assert.equal(loadConfig({}, {}).workers, 1);
    assert.equal(loadConfig({ workers: "3" }, {}).workers, 3);
    assert.equal(loadConfig({}, { HERALD_WORKERS: "auto" }).workers, availableParallelism());
  });

  it("refuses anything else, naming the setting and its variable", () => {
    for (const value of ["0", "two", "1.5"]) {
      assert.throws(
        () => loadConfig({}, { HERALD_WORKERS: value }),
        (error: unknown) =>
          error instanceof ConfigError && /workers \(HERALD_WORKERS\): /.test(error.message),
        value,
      );
    }
  });
});
