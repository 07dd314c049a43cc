import assert from "node:assert/strict";
import { validateHeaderName, validateHeaderValue } from "node:http";
import { describe, it } from "node:test";
import fc from "fast-check";
import { HeraldError } from "../../src/errors.js";
import {
  DEFAULT_MAX_BATCH_EVENTS,
  MAX_JSON_DEPTH,
  parseHttpEvents,
  toBinaryHttp,
  type Headers,
} from "../../src/events/http.js";

const binaryHeaders = { "ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t" };
const structured = { "content-type": "application/cloudevents+json" };
const batch = { "content-type": "application/cloudevents-batch+json" };
const minimal = { specversion: "1.0", id: "1", source: "/s", type: "t" };

function refusal(run: () => unknown): HeraldError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof HeraldError, `expected a HeraldError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the input to be refused");
}

function problems(run: () => unknown): { attribute: string; rule: string }[] {
  const error = refusal(run);
  assert.equal(error.code, "InvalidEvent", error.message);
  return (error.details as { problems: { attribute: string; rule: string }[] }).problems;
}

const structuredEvent = (attributes: Record<string, unknown>) =>
  parseHttpEvents(structured, Buffer.from(JSON.stringify({ ...minimal, ...attributes })));

describe("attributes that could not be sent on are refused at ingress", () => {
  it("datacontenttype must be a media type whose parameters are tokens or quoted strings", () => {
    for (const bad of [
      "text/plain\r\n;x",
      "text/plain; a=\u0000",
      "text/plain; a=\u0100",
      "text/plain; a=é",
      "text/plain; a=b c",
      "text/plain;",
      'text/plain; a="unterminated',
      "text plain",
      "text/",
      "",
    ]) {
      const found = problems(() => structuredEvent({ datacontenttype: bad, data: "hi" }));
      assert.deepEqual(
        found.map((p) => p.attribute),
        ["datacontenttype"],
        JSON.stringify(bad),
      );
    }
    for (const good of [
      "text/plain",
      "application/json; charset=utf-8",
      "application/json;charset=UTF-8",
      'text/plain; charset="utf-8"; format="a \\"quoted\\" word"',
      "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
      "application/vnd.api+json",
    ]) {
      const { events } = structuredEvent({ datacontenttype: good, data: "hi" });
      assert.equal(events[0]!.attributes.datacontenttype, good);
    }
  });

  it("the binary-mode content-type is held to the same rule", () => {
    const found = problems(() =>
      parseHttpEvents({ ...binaryHeaders, "content-type": "text/plain; a=b c" }, Buffer.from("x")),
    );
    assert.deepEqual(
      found.map((p) => p.attribute),
      ["datacontenttype"],
    );
  });

  it("traceparent must be a W3C traceparent", () => {
    const valid = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    for (const bad of [
      `${valid}\r\nX-Injected: yes`,
      valid.toUpperCase(),
      "00-00000000000000000000000000000000-b7ad6b7169203331-01",
      "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
      `ff${valid.slice(2)}`,
      `${valid}-extra`,
      "garbage",
    ]) {
      const found = problems(() => structuredEvent({ traceparent: bad }));
      assert.deepEqual(
        found.map((p) => p.attribute),
        ["traceparent"],
        bad,
      );
    }
    assert.equal(structuredEvent({ traceparent: valid }).events[0]!.attributes.traceparent, valid);
    // A later version may carry more fields.
    const later = `01${valid.slice(2)}-more`;
    assert.equal(structuredEvent({ traceparent: later }).events[0]!.attributes.traceparent, later);
  });

  it("a string with an unpaired surrogate is not Unicode", () => {
    const body = Buffer.from(`{"specversion":"1.0","id":"a\\ud800b","source":"/s","type":"t"}`);
    const found = problems(() => parseHttpEvents(structured, body));
    assert.deepEqual(
      found.map((p) => p.attribute),
      ["id"],
    );
    // A pair is one character and fine.
    const pair = Buffer.from(`{"specversion":"1.0","id":"a\\ud83d\\ude00b","source":"/s","type":"t"}`);
    assert.equal(parseHttpEvents(structured, pair).events[0]!.attributes.id, "a😀b");
  });

  it("every header of an accepted event is a valid HTTP header, whatever its attribute values", () => {
    const text = fc.string({ unit: "binary", maxLength: 40 });
    fc.assert(
      fc.property(text, text, text, (id, subject, extension) => {
        let events;
        try {
          ({ events } = parseHttpEvents(
            structured,
            Buffer.from(JSON.stringify({ ...minimal, id, subject, myext: extension })),
          ));
        } catch (error) {
          if (error instanceof HeraldError && error.code === "InvalidEvent") return;
          throw error;
        }
        const { headers } = toBinaryHttp(events[0]!);
        for (const [name, value] of Object.entries(headers)) {
          validateHeaderName(name);
          validateHeaderValue(name, value);
        }
      }),
      { numRuns: 1_000, seed: 7 },
    );
  });
});

describe("malformed bytes are refused, never replaced", () => {
  it("a structured body that is not UTF-8 gets 400", () => {
    const body = Buffer.concat([
      Buffer.from('{"specversion":"1.0","id":"u'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('1","source":"/s","type":"t"}'),
    ]);
    const found = problems(() => parseHttpEvents(structured, body));
    assert.deepEqual(found, [{ attribute: "(body)", rule: "is not valid UTF-8" }]);
  });

  it("a ce- header holding bytes that are not UTF-8 gets 400; raw UTF-8 is read as UTF-8", () => {
    // Node hands header bytes over as Latin-1 characters.
    const raw = (text: Buffer) => text.toString("latin1");
    const found = problems(() =>
      parseHttpEvents({ ...binaryHeaders, "ce-subject": raw(Buffer.from([0x61, 0xff])) }, Buffer.alloc(0)),
    );
    assert.deepEqual(
      found.map((p) => p.attribute),
      ["subject"],
    );
    const { events } = parseHttpEvents(
      { ...binaryHeaders, "ce-subject": raw(Buffer.from("café")) },
      Buffer.alloc(0),
    );
    assert.equal(events[0]!.attributes.subject, "café");
  });
});

describe("deeply nested and oversized input", () => {
  const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth);

  it("deep JSON in a structured event or a batch gets 400 naming the limit, not 500", () => {
    for (const depth of [MAX_JSON_DEPTH, 200_000]) {
      const body = Buffer.from(
        `{"specversion":"1.0","id":"1","source":"/s","type":"t","data":${nested(depth)}}`,
      );
      const found = problems(() => parseHttpEvents(structured, body));
      assert.match(found[0]!.rule, new RegExp(`deeper than ${MAX_JSON_DEPTH} levels`));
      const batched = Buffer.from(`[${body.toString()}]`);
      assert.match(problems(() => parseHttpEvents(batch, batched))[0]!.rule, /deeper than/);
    }
  });

  it("nesting up to the limit is read, and brackets inside strings do not count", () => {
    const data = nested(MAX_JSON_DEPTH - 1);
    const body = Buffer.from(
      JSON.stringify({ ...minimal, subject: "[[[[{{{{".repeat(100), quote: 'a"[' }).replace(
        /}$/,
        `,"data":${data}}`,
      ),
    );
    const { events } = parseHttpEvents(structured, body);
    assert.equal(events[0]!.data?.toString(), data);
  });

  it("a batch of more events than the limit gets 413, before any is validated", () => {
    const events = (count: number) =>
      Buffer.from(JSON.stringify(Array.from({ length: count }, (_, i) => ({ ...minimal, id: String(i) }))));
    assert.equal(parseHttpEvents(batch, events(DEFAULT_MAX_BATCH_EVENTS)).events.length, 1000);
    const error = refusal(() => parseHttpEvents(batch, events(DEFAULT_MAX_BATCH_EVENTS + 1)));
    assert.equal(error.code, "PayloadTooLarge");
    assert.match(error.message, /1001 events exceeds the limit of 1000/);
    assert.equal(
      refusal(() => parseHttpEvents(batch, events(3), { maxBatchEvents: 2 })).code,
      "PayloadTooLarge",
    );
    // Not validated: invalid events beyond the limit still get 413.
    const invalidMany = Buffer.from(JSON.stringify(Array.from({ length: 5 }, () => ({}))));
    assert.equal(
      refusal(() => parseHttpEvents(batch, invalidMany, { maxBatchEvents: 2 })).code,
      "PayloadTooLarge",
    );
  });
});

describe("binary-mode header names", () => {
  const names = (headers: Headers) =>
    problems(() => parseHttpEvents(headers, Buffer.alloc(0))).map((p) => p.attribute);

  it("refuses ce-__proto__ and other names that are not attribute names, instead of dropping them", () => {
    assert.deepEqual(names({ ...binaryHeaders, "ce-__proto__": "x" }), ["__proto__"]);
    assert.deepEqual(names({ ...binaryHeaders, "ce-": "x" }), [""]);
    assert.deepEqual(names({ ...binaryHeaders, "ce-a_b": "x" }), ["a_b"]);
  });

  it("refuses a repeated ce- header or content-type instead of joining the values", () => {
    const repeated = problems(() =>
      parseHttpEvents({ ...binaryHeaders, "ce-id": ["dup1", "dup2"] }, Buffer.alloc(0)),
    );
    assert.ok(
      repeated.some((p) => p.attribute === "id" && /ce-id header is repeated/.test(p.rule)),
      JSON.stringify(repeated),
    );
    assert.deepEqual(names({ ...binaryHeaders, "content-type": ["text/plain", "text/html"] }), [
      "datacontenttype",
    ]);
    // A header sent once, as Node's headersDistinct gives it, is read as usual.
    const { events } = parseHttpEvents(
      { "ce-specversion": ["1.0"], "ce-id": ["1"], "ce-source": ["/s"], "ce-type": ["t"] },
      Buffer.alloc(0),
    );
    assert.equal(events[0]!.attributes.id, "1");
  });

  it("accepts extension names longer than the 20 characters the specification advises", () => {
    const long = "averyveryverylongextensionname12345";
    const { events } = parseHttpEvents({ ...binaryHeaders, [`ce-${long}`]: "x" }, Buffer.alloc(0));
    assert.equal(events[0]!.attributes[long], "x");
  });
});
