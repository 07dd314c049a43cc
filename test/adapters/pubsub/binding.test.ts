import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeMessage, encodeEvent } from "../../../adapters/pubsub/binding.js";
import type { CloudEvent } from "../../../src/events/event.js";

const event: CloudEvent = {
  attributes: {
    specversion: "1.0",
    id: "42",
    source: "/orders",
    type: "order.created",
    datacontenttype: "application/json",
    time: "2024-05-01T10:00:00Z",
    partitionkey: "customer-7",
    sequence: 3,
    flagged: true,
  },
  data: Buffer.from('{"total":12}'),
};

describe("Pub/Sub CloudEvents binding", () => {
  it("maps attributes to ce- prefixed message attributes and datacontenttype to content-type", () => {
    const { data, attributes } = encodeEvent(event);
    assert.deepEqual(attributes, {
      "ce-specversion": "1.0",
      "ce-id": "42",
      "ce-source": "/orders",
      "ce-type": "order.created",
      "content-type": "application/json",
      "ce-time": "2024-05-01T10:00:00Z",
      "ce-partitionkey": "customer-7",
      "ce-sequence": "3",
      "ce-flagged": "true",
    });
    assert.equal(data.toString(), '{"total":12}');
  });

  it("round-trips an event in binary mode, with attribute values in canonical string form", () => {
    const { data, attributes } = encodeEvent(event);
    const decoded = decodeMessage(data, attributes);
    assert.deepEqual(decoded.event?.attributes, {
      ...event.attributes,
      sequence: "3",
      flagged: "true",
    });
    assert.equal(decoded.event?.data?.toString(), '{"total":12}');
  });

  it("carries an event without data as an empty payload and reads it back without data", () => {
    const bare: CloudEvent = { attributes: { specversion: "1.0", id: "1", source: "/s", type: "t" } };
    const { data, attributes } = encodeEvent(bare);
    assert.equal(data.length, 0);
    assert.deepEqual(decodeMessage(data, attributes), {
      event: { attributes: bare.attributes, data: undefined },
    });
  });

  it("reads attribute names case-insensitively, Content-Type included", () => {
    const decoded = decodeMessage(Buffer.from("x"), {
      "CE-SpecVersion": "1.0",
      "Ce-Id": "1",
      "ce-source": "/s",
      "ce-type": "t",
      "Content-Type": "text/plain",
    });
    assert.deepEqual(decoded.event?.attributes, {
      specversion: "1.0",
      id: "1",
      source: "/s",
      type: "t",
      datacontenttype: "text/plain",
    });
  });

  it("reads a structured-mode JSON event when content-type is application/cloudevents+json", () => {
    const body = {
      specversion: "1.0",
      id: "9",
      source: "/s",
      type: "t",
      datacontenttype: "application/json",
      data: { a: 1 },
    };
    const decoded = decodeMessage(Buffer.from(JSON.stringify(body)), {
      "content-type": "application/cloudevents+json; charset=utf-8",
    });
    assert.equal(decoded.event?.attributes.id, "9");
    assert.deepEqual(JSON.parse(decoded.event.data!.toString()), { a: 1 });
    const binary = decodeMessage(
      Buffer.from(
        JSON.stringify({ specversion: "1.0", id: "9", source: "/s", type: "t", data_base64: "AAE=" }),
      ),
      { "content-type": "application/cloudevents+json" },
    );
    assert.deepEqual([...binary.event!.data!], [0, 1]);
  });

  it("explains why a message is not a CloudEvent", () => {
    assert.match(
      decodeMessage(Buffer.from("hello"), { origin: "legacy" }).reason ?? "",
      /missing Pub\/Sub attributes ce-specversion, ce-id, ce-source, ce-type/,
    );
    assert.match(
      decodeMessage(Buffer.from("x"), {
        "ce-specversion": "0.3",
        "ce-id": "1",
        "ce-source": "/s",
        "ce-type": "t",
      }).reason ?? "",
      /specversion 0\.3/,
    );
    assert.match(
      decodeMessage(Buffer.from("{"), { "content-type": "application/cloudevents+json" }).reason ?? "",
      /not valid JSON/,
    );
    assert.match(
      decodeMessage(Buffer.from("x"), { "content-type": "application/cloudevents+avro" }).reason ?? "",
      /event format/,
    );
  });
});
