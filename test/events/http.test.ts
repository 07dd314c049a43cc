import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HeraldError } from "../../src/errors.js";
import { parseHttpEvents, parseHttpReply, toBinaryHttp, toStructuredJson } from "../../src/events/http.js";

const binaryHeaders = { "ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t" };

function problems(run: () => unknown): { attribute: string; rule: string; index?: number }[] {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof HeraldError, String(error));
    assert.equal(error.code, "InvalidEvent");
    return (error.details as { problems: { attribute: string; rule: string; index?: number }[] }).problems;
  }
  assert.fail("expected InvalidEvent");
}

describe("HTTP binding: binary mode", () => {
  it("reads ce- headers, content-type and body", () => {
    const { events, mode } = parseHttpEvents(
      { ...binaryHeaders, "ce-subject": "a%20b%25c", "content-type": "text/plain" },
      Buffer.from("hi"),
    );
    assert.equal(mode, "binary");
    assert.deepEqual(events[0]!.attributes, {
      specversion: "1.0",
      id: "1",
      source: "/s",
      type: "t",
      subject: "a b%c",
      datacontenttype: "text/plain",
    });
    assert.equal(events[0]!.data?.toString(), "hi");
  });

  it("has no data for an empty body", () => {
    assert.equal(parseHttpEvents(binaryHeaders, Buffer.alloc(0)).events[0]!.data, undefined);
  });

  it("names each missing required attribute", () => {
    const found = problems(() => parseHttpEvents({ "ce-specversion": "1.0" }, Buffer.alloc(0)));
    assert.deepEqual(found.map((p) => p.attribute).sort(), ["id", "source", "type"]);
    assert.ok(found.every((p) => p.rule === "required attribute is missing"));
  });

  it("rejects a wrong specversion, a bad time, a bad dataschema and a bad attribute name", () => {
    const found = problems(() =>
      parseHttpEvents(
        {
          ...binaryHeaders,
          "ce-specversion": "0.3",
          "ce-time": "yesterday",
          "ce-dataschema": "relative/path",
          "ce-bad_name": "x",
        },
        Buffer.alloc(0),
      ),
    );
    const byAttribute = Object.fromEntries(found.map((p) => [p.attribute, p.rule]));
    assert.match(byAttribute.specversion!, /1\.0/);
    assert.match(byAttribute.time!, /RFC 3339/);
    assert.match(byAttribute.dataschema!, /absolute URI/);
    assert.match(byAttribute.bad_name!, /lowercase/);
  });

  it("rejects a request that is no CloudEvent at all", () => {
    const found = problems(() => parseHttpEvents({ "content-type": "application/json" }, Buffer.from("{}")));
    assert.match(found[0]!.rule, /no ce-specversion header/);
  });

  it("rejects percent-escapes that decode to invalid UTF-8", () => {
    for (const subject of ["%E0%A4%A", "%C3", "%FF", "caf%C3"]) {
      const found = problems(() =>
        parseHttpEvents({ ...binaryHeaders, "ce-subject": subject }, Buffer.alloc(0)),
      );
      assert.equal(found[0]!.attribute, "subject", subject);
      assert.match(found[0]!.rule, /percent-encoded UTF-8/);
    }
  });

  it("keeps a percent sign that starts no escape, as senders that do not percent-encode send it", () => {
    const cases = {
      "100%": "100%",
      "50%-off": "50%-off",
      "%zz%": "%zz%",
      "100%%20sure": "100% sure",
      "a%2": "a%2",
      "%%41": "%A",
    };
    for (const [header, subject] of Object.entries(cases)) {
      const { events } = parseHttpEvents({ ...binaryHeaders, "ce-subject": header }, Buffer.alloc(0));
      assert.equal(events[0]!.attributes.subject, subject, header);
    }
  });
});

describe("HTTP binding: structured and batched modes", () => {
  it("reads a structured event with JSON data", () => {
    const body = Buffer.from(
      JSON.stringify({
        specversion: "1.0",
        id: "1",
        source: "/s",
        type: "t",
        count: 3,
        flag: true,
        data: { a: [1] },
      }),
    );
    const { events, mode } = parseHttpEvents(
      { "content-type": "application/cloudevents+json; charset=utf-8" },
      body,
    );
    assert.equal(mode, "structured");
    assert.equal(events[0]!.attributes.count, 3);
    assert.equal(events[0]!.attributes.flag, true);
    assert.equal(events[0]!.attributes.datacontenttype, "application/json");
    assert.deepEqual(JSON.parse(events[0]!.data!.toString()), { a: [1] });
  });

  it("keeps string data of a text type as is, and decodes data_base64", () => {
    const text = parseHttpEvents(
      { "content-type": "application/cloudevents+json" },
      Buffer.from(
        JSON.stringify({
          specversion: "1.0",
          id: "1",
          source: "/s",
          type: "t",
          datacontenttype: "text/plain",
          data: "héllo",
        }),
      ),
    );
    assert.equal(text.events[0]!.data!.toString(), "héllo");
    const binary = parseHttpEvents(
      { "content-type": "application/cloudevents+json" },
      Buffer.from(
        JSON.stringify({
          specversion: "1.0",
          id: "1",
          source: "/s",
          type: "t",
          data_base64: Buffer.from([0, 255]).toString("base64"),
        }),
      ),
    );
    assert.deepEqual([...binary.events[0]!.data!], [0, 255]);
  });

  it("rejects data with data_base64, a bad base64, floats and objects as extensions", () => {
    const found = problems(() =>
      parseHttpEvents(
        { "content-type": "application/cloudevents+json" },
        Buffer.from(
          JSON.stringify({
            specversion: "1.0",
            id: "1",
            source: "/s",
            type: "t",
            ratio: 1.5,
            nested: { a: 1 },
            big: 2 ** 40,
            data: 1,
            data_base64: "AA==",
          }),
        ),
      ),
    );
    const attributes = found.map((p) => p.attribute).sort();
    assert.deepEqual(attributes, ["big", "data_base64", "nested", "ratio"]);
  });

  it("answers malformed JSON with the parser's message", () => {
    const found = problems(() =>
      parseHttpEvents({ "content-type": "application/cloudevents+json" }, Buffer.from("{nope")),
    );
    assert.match(found[0]!.rule, /not valid JSON/);
  });

  it("refuses a structured format other than JSON with UnsupportedMediaType", () => {
    assert.throws(
      () => parseHttpEvents({ "content-type": "application/cloudevents+avro" }, Buffer.from("x")),
      (error: unknown) => error instanceof HeraldError && error.code === "UnsupportedMediaType",
    );
  });

  it("reads a batch, and rejects it whole naming the index of a bad event", () => {
    const ok = parseHttpEvents(
      { "content-type": "application/cloudevents-batch+json" },
      Buffer.from(
        JSON.stringify([
          { specversion: "1.0", id: "1", source: "/s", type: "t" },
          { specversion: "1.0", id: "2", source: "/s", type: "t" },
        ]),
      ),
    );
    assert.equal(ok.mode, "batch");
    assert.equal(ok.events.length, 2);
    assert.equal(
      parseHttpEvents({ "content-type": "application/cloudevents-batch+json" }, Buffer.from("[]")).events
        .length,
      0,
    );
    const found = problems(() =>
      parseHttpEvents(
        { "content-type": "application/cloudevents-batch+json" },
        Buffer.from(JSON.stringify([{ specversion: "1.0", id: "1", source: "/s", type: "t" }, { id: "2" }])),
      ),
    );
    assert.ok(found.every((p) => p.index === 1));
    assert.deepEqual(found.map((p) => p.attribute).sort(), ["source", "specversion", "type"]);
  });
});

describe("HTTP binding: writing events", () => {
  it("round-trips through binary mode, percent-encoding what the binding requires", () => {
    const original = parseHttpEvents(
      { "content-type": "application/cloudevents+json" },
      Buffer.from(
        JSON.stringify({
          specversion: "1.0",
          id: "1",
          source: "/s",
          type: "t",
          subject: 'naïve "quoted" 100%',
          data: { x: 1 },
        }),
      ),
    ).events[0]!;
    const { headers, body } = toBinaryHttp(original);
    assert.equal(headers["ce-subject"], "na%C3%AFve%20%22quoted%22%20100%25");
    assert.equal(headers["content-type"], "application/json");
    const again = parseHttpEvents(headers, body!).events[0]!;
    assert.deepEqual(again.attributes, original.attributes);
    assert.deepEqual(again.data, original.data);
  });

  it("writes the JSON format with data as JSON, text or base64", () => {
    const json = toStructuredJson({
      attributes: {
        specversion: "1.0",
        id: "1",
        source: "/s",
        type: "t",
        datacontenttype: "application/json",
      },
      data: Buffer.from('{"a":1}'),
    });
    assert.deepEqual(json.data, { a: 1 });
    const text = toStructuredJson({
      attributes: { specversion: "1.0", id: "1", source: "/s", type: "t", datacontenttype: "text/plain" },
      data: Buffer.from("hi"),
    });
    assert.equal(text.data, "hi");
    const bytes = toStructuredJson({
      attributes: {
        specversion: "1.0",
        id: "1",
        source: "/s",
        type: "t",
        datacontenttype: "application/octet-stream",
      },
      data: Buffer.from([1, 2]),
    });
    assert.equal(bytes.data_base64, "AQI=");
  });

  it("reads a reply only when the 2xx response carries an event", () => {
    assert.equal(parseHttpReply(202, {}, Buffer.alloc(0)), undefined);
    assert.equal(parseHttpReply(200, { "content-type": "application/json" }, Buffer.from("{}")), undefined);
    assert.equal(parseHttpReply(500, binaryHeaders, Buffer.alloc(0)), undefined);
    assert.equal(parseHttpReply(200, binaryHeaders, Buffer.alloc(0))?.attributes.id, "1");
    assert.throws(() => parseHttpReply(200, { "ce-specversion": "1.0" }, Buffer.alloc(0)), HeraldError);
  });
});
