import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { matches, mergePatch, parseSelector, statusOf } from "../../src/api/kube-objects.js";
import { humanDuration } from "../../src/api/kube-tables.js";

describe("JSON Merge Patch (RFC 7386)", () => {
  // RFC 7386 Appendix A, the cases that apply to objects.
  const cases: Array<[unknown, unknown, unknown]> = [
    [{ a: "b" }, { a: "c" }, { a: "c" }],
    [{ a: "b" }, { b: "c" }, { a: "b", b: "c" }],
    [{ a: "b" }, { a: null }, {}],
    [{ a: "b", b: "c" }, { a: null }, { b: "c" }],
    [{ a: ["b"] }, { a: "c" }, { a: "c" }],
    [{ a: "c" }, { a: ["b"] }, { a: ["b"] }],
    [{ a: { b: "c" } }, { a: { b: "d", c: null } }, { a: { b: "d" } }],
    [{ a: [{ b: "c" }] }, { a: [1] }, { a: [1] }],
    [
      ["a", "b"],
      ["c", "d"],
      ["c", "d"],
    ],
    [{ a: "b" }, ["c"], ["c"]],
    [{ a: "foo" }, null, null],
    [{ a: "foo" }, "bar", "bar"],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: "b", c: null }, { a: "b" }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  for (const [target, patch, result] of cases)
    it(`${JSON.stringify(target)} patched by ${JSON.stringify(patch)}`, () => {
      assert.deepEqual(mergePatch(target, patch), result);
    });

  it("leaves the target unchanged", () => {
    const target = { spec: { subscriber: { uri: "http://a" } } };
    mergePatch(target, { spec: { subscriber: { uri: "http://b" } } });
    assert.deepEqual(target, { spec: { subscriber: { uri: "http://a" } } });
  });
});

describe("ages as kubectl prints them", () => {
  const second = 1000;
  const minute = 60 * second;
  const hour = 60 * minute;
  const day = 24 * hour;
  const cases: Array<[number, string]> = [
    [-5 * second, "<invalid>"],
    [0, "0s"],
    [119 * second, "119s"],
    [2 * minute, "2m"],
    [3 * minute + 12 * second, "3m12s"],
    [10 * minute, "10m"],
    [179 * minute, "179m"],
    [3 * hour, "3h"],
    [5 * hour + 30 * minute, "5h30m"],
    [47 * hour, "47h"],
    [2 * day, "2d"],
    [3 * day + 4 * hour, "3d4h"],
    [100 * day, "100d"],
    [2 * 365 * day + 10 * day, "2y10d"],
    [9 * 365 * day, "9y"],
  ];
  for (const [milliseconds, age] of cases)
    it(`${milliseconds} ms is ${age}`, () => assert.equal(humanDuration(milliseconds), age));
});

describe("equality-based selectors", () => {
  const labels: Record<string, string> = { app: "orders", tier: "web" };
  const select = (selector: string) =>
    matches(parseSelector(selector, "labelSelector"), (key) => labels[key]);

  it("matches key=value, key==value, key!=value, key and !key", () => {
    assert.equal(select("app=orders"), true);
    assert.equal(select("app==orders,tier=web"), true);
    assert.equal(select("app!=orders"), false);
    assert.equal(select("tier"), true);
    assert.equal(select("!tier"), false);
    assert.equal(select("!missing"), true);
    assert.equal(select(""), true);
  });

  it("refuses set-based selectors, naming them", () => {
    assert.throws(() => parseSelector("app in (a,b)", "labelSelector"), /labelSelector "app in \(a"/);
  });
});

describe("Status bodies", () => {
  it("maps a validation error to Invalid with causes and the resource written", () => {
    const status = statusOf(
      422,
      {
        message: "invalid resource: spec.nope: unknown field",
        details: { problems: [{ path: "spec.nope", message: "unknown field" }] },
      },
      { kind: "Broker", name: "bad" },
    );
    assert.deepEqual(status, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: "invalid resource: spec.nope: unknown field",
      reason: "Invalid",
      details: {
        kind: "Broker",
        name: "bad",
        causes: [{ reason: "FieldValueInvalid", field: "spec.nope", message: "unknown field" }],
      },
      code: 422,
    });
  });

  it("names the reason of every status Herald answers", () => {
    const reasons = [400, 401, 403, 404, 405, 409, 413, 415, 422, 500, 503].map(
      (code) => statusOf(code, { message: "m" }).reason,
    );
    assert.deepEqual(reasons, [
      "BadRequest",
      "Unauthorized",
      "Forbidden",
      "NotFound",
      "MethodNotAllowed",
      "AlreadyExists",
      "RequestEntityTooLarge",
      "UnsupportedMediaType",
      "Invalid",
      "InternalError",
      "ServiceUnavailable",
    ]);
  });
});
