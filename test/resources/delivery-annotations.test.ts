import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  deliveryAnnotationProblems,
  deliveryLimitsOf,
  parseReplayFrom,
} from "../../src/resources/delivery-annotations.js";

describe("replay start (herald replay --from, herald.dev/replay-from)", () => {
  it("reads beginning, RFC 3339 times and non-negative integer offsets", () => {
    assert.deepEqual(parseReplayFrom("beginning"), { from: "beginning" });
    assert.deepEqual(parseReplayFrom(" 42 "), { from: "offset", offset: 42 });
    assert.deepEqual(parseReplayFrom("0"), { from: "offset", offset: 0 });
    for (const [text, iso] of [
      ["2026-12-07T16:00:00Z", "2026-12-07T16:00:00.000Z"],
      ["2026-12-07T16:00:00.250Z", "2026-12-07T16:00:00.250Z"],
      ["2026-12-07T17:00:00+01:00", "2026-12-07T16:00:00.000Z"],
      ["2026-12-07t16:00:00z", "2026-12-07T16:00:00.000Z"],
    ] as const) {
      const parsed = parseReplayFrom(text);
      assert.ok(typeof parsed !== "string" && parsed.from === "time", text);
      assert.equal(parsed.time.toISOString(), iso);
    }
  });

  it("refuses anything else, saying what it takes", () => {
    for (const text of [
      "",
      "  ",
      "start",
      "-1",
      "1.5",
      "2026-12-07",
      "2026-13-45T00:00:00Z",
      "yesterday",
      "99999999999999999999",
    ])
      assert.equal(typeof parseReplayFrom(text), "string", text);
    assert.equal(typeof parseReplayFrom(7), "string");
    assert.match(parseReplayFrom("soon") as string, /"soon" is not "beginning", an RFC 3339 time/);
  });
});

describe("delivery limits (herald.dev/max-event-age, herald.dev/max-delivery-rate)", () => {
  const at = (path: string) => path;

  it("reads valid limits", () => {
    assert.deepEqual(
      deliveryLimitsOf({ "herald.dev/max-event-age": "PT1H", "herald.dev/max-delivery-rate": "2.5" }),
      { maxEventAgeMs: 3_600_000, maxDeliveryRate: 2.5 },
    );
    assert.deepEqual(deliveryLimitsOf(undefined), {});
    assert.deepEqual(deliveryLimitsOf({ "herald.dev/max-event-age": "P1D" }), { maxEventAgeMs: 86_400_000 });
  });

  it("names each invalid annotation with its problem", () => {
    for (const [annotations, path] of [
      [{ "herald.dev/max-event-age": "1h" }, 'metadata.annotations["herald.dev/max-event-age"]'],
      [{ "herald.dev/max-event-age": "PT0S" }, 'metadata.annotations["herald.dev/max-event-age"]'],
      [{ "herald.dev/max-delivery-rate": "0" }, 'metadata.annotations["herald.dev/max-delivery-rate"]'],
      [{ "herald.dev/max-delivery-rate": "-3" }, 'metadata.annotations["herald.dev/max-delivery-rate"]'],
      [{ "herald.dev/max-delivery-rate": "1e3" }, 'metadata.annotations["herald.dev/max-delivery-rate"]'],
      [{ "herald.dev/max-delivery-rate": "2000000" }, 'metadata.annotations["herald.dev/max-delivery-rate"]'],
      [{ "herald.dev/replay-from": "later" }, 'metadata.annotations["herald.dev/replay-from"]'],
    ] as const) {
      const problems = deliveryAnnotationProblems(annotations, at);
      assert.deepEqual(
        problems.map((problem) => problem.path),
        [path],
        JSON.stringify(annotations),
      );
      assert.deepEqual(deliveryLimitsOf(annotations), {}, "an invalid value sets no limit");
    }
    assert.deepEqual(
      deliveryAnnotationProblems(
        { "herald.dev/max-event-age": "PT5M", "herald.dev/replay-from": "beginning" },
        at,
      ),
      [],
    );
  });
});
