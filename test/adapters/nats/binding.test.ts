import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { headers as natsHeaders } from "@nats-io/transport-node";
import {
  fromNatsMessage,
  percentDecode,
  percentEncode,
  toNatsMessage,
} from "../../../adapters/nats/binding.js";
import type { CloudEvent } from "../../../src/events/event.js";
import { testEvent } from "../../support/adapter-fixtures.js";

function headersOf(entries: Record<string, string>) {
  const headers = natsHeaders();
  for (const [key, value] of Object.entries(entries)) headers.set(key, value);
  return headers;
}

const bytes = (text: string) => new TextEncoder().encode(text);

/** The reason a message is not a CloudEvent. */
function reason(decoded: CloudEvent | string): string {
  assert.equal(typeof decoded, "string", "not a CloudEvent");
  return decoded as string;
}

describe("CloudEvents NATS binding", () => {
  it("writes binary mode: every attribute as a ce- header, datacontenttype included, data as the payload", () => {
    const event = testEvent("1", { subject: "orders/42", time: "2024-05-01T00:00:00Z" });
    const { headers, data } = toNatsMessage(event);
    assert.deepEqual(headers.keys().sort(), [
      "ce-datacontenttype",
      "ce-id",
      "ce-source",
      "ce-specversion",
      "ce-subject",
      "ce-time",
      "ce-type",
    ]);
    assert.equal(headers.get("ce-datacontenttype"), "application/json");
    assert.equal(headers.has("Content-Type"), false);
    assert.deepEqual(Buffer.from(data), event.data);
  });

  it("round-trips attributes, extensions and data; integers and booleans as their canonical strings", () => {
    const event = testEvent("1", { count: 3, flag: true, partitionkey: "k" });
    const { headers, data } = toNatsMessage(event);
    assert.equal(headers.get("ce-count"), "3");
    assert.equal(headers.get("ce-flag"), "true");
    const decoded = fromNatsMessage(headers, data) as CloudEvent;
    assert.deepEqual(decoded.attributes, { ...event.attributes, count: "3", flag: "true" });
    assert.deepEqual(decoded.data, event.data);
  });

  it("percent-encodes space, double quote, percent and non-ASCII as UTF-8, upper-case hex (3.1.3.2)", () => {
    assert.equal(percentEncode("Euro € 😀"), "Euro%20%E2%82%AC%20%F0%9F%98%80");
    assert.equal(percentEncode('say "hi" 100%'), "say%20%22hi%22%20100%25");
    assert.equal(percentEncode("tab\there"), "tab%09here");
    assert.equal(percentEncode("/plain-ascii:ok?x=1&y=~"), "/plain-ascii:ok?x=1&y=~");
    const event = testEvent("1", { subject: 'a "quoted" sübject 100%' });
    const decoded = fromNatsMessage(toNatsMessage(event).headers, bytes("{}")) as CloudEvent;
    assert.equal(decoded.attributes.subject, 'a "quoted" sübject 100%');
  });

  it("decodes lower-case hex, unnecessary encoding, quoted strings, and rejects invalid UTF-8", () => {
    assert.equal(percentDecode("Euro%20%e2%82%ac"), "Euro €");
    assert.equal(percentDecode("%41%42C"), "ABC");
    assert.equal(percentDecode('"a \\"b\\" c"'), 'a "b" c');
    assert.equal(percentDecode('"x%20y"'), "x y");
    assert.equal(percentDecode("50% off"), "50% off");
    assert.equal(percentDecode("%C0%A0"), undefined, "overlong encoding of U+0020");
    assert.equal(percentDecode("%FF"), undefined);
  });

  it("reads ce- headers in any case", () => {
    const decoded = fromNatsMessage(
      headersOf({ "Ce-Specversion": "1.0", "CE-ID": "1", "ce-Source": "/s", "ce-type": "t" }),
      bytes(""),
    );
    assert.deepEqual(decoded, {
      attributes: { specversion: "1.0", id: "1", source: "/s", type: "t" },
      data: undefined,
    });
  });

  it("takes Content-Type as datacontenttype when ce-datacontenttype is absent", () => {
    const decoded = fromNatsMessage(
      headersOf({
        "ce-specversion": "1.0",
        "ce-id": "1",
        "ce-source": "/s",
        "ce-type": "t",
        "Content-Type": "text/plain",
      }),
      bytes("hello"),
    ) as CloudEvent;
    assert.equal(decoded.attributes.datacontenttype, "text/plain");
    assert.equal(decoded.data?.toString(), "hello");
  });

  it("reads structured mode when Content-Type is application/cloudevents (any case)", () => {
    const payload = JSON.stringify({ specversion: "1.0", id: "s1", source: "/s", type: "t", data: { a: 1 } });
    const decoded = fromNatsMessage(
      headersOf({ "content-type": "Application/CloudEvents+JSON; charset=utf-8" }),
      bytes(payload),
    ) as CloudEvent;
    assert.equal(decoded.attributes.id, "s1");
    assert.deepEqual(JSON.parse(decoded.data!.toString()), { a: 1 });
  });

  it("reads a message without headers as a structured JSON event, as Knative's dispatcher writes them", () => {
    const payload = JSON.stringify({ specversion: "1.0", id: "k1", source: "/k", type: "t", data: "x" });
    const decoded = fromNatsMessage(undefined, bytes(payload)) as CloudEvent;
    assert.equal(decoded.attributes.id, "k1");
  });

  it("explains why a message is not a CloudEvent", () => {
    assert.match(reason(fromNatsMessage(undefined, bytes("plain text"))), /no ce-specversion header/);
    assert.match(
      reason(fromNatsMessage(headersOf({ "ce-id": "1", "ce-source": "/s", "ce-type": "t" }), bytes("x"))),
      /no ce-specversion header/,
    );
    assert.match(
      reason(
        fromNatsMessage(headersOf({ "ce-specversion": "1.0", "ce-id": "1", "ce-type": "t" }), bytes("x")),
      ),
      /source: required attribute is missing/,
    );
    assert.match(
      reason(fromNatsMessage(headersOf({ "ce-specversion": "1.0", "ce-id": "%C0%A0" }), bytes(""))),
      /ce-id is not valid percent-encoded UTF-8/,
    );
    assert.match(
      reason(fromNatsMessage(headersOf({ "content-type": "application/cloudevents+json" }), bytes("{"))),
      /structured-mode message is not a valid CloudEvent/,
    );
  });
});
