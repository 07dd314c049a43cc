import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CloudEvent, HTTP, Mode, emitterFor, httpTransport, type Message } from "cloudevents";
import { eventually } from "../support/eventually.js";
import { HeraldProcess } from "../support/herald.js";
import { startReceiver, type ReceivedRequest, type Receiver } from "../support/receiver.js";

/**
 * Interoperability with the official CloudEvents JavaScript SDK (`cloudevents` v10): events the SDK
 * builds and sends in binary and structured mode go through a real Herald channel to a real
 * subscriber, and the SDK reads what Herald delivers (always binary mode) as the event it sent.
 */

/** HTTP headers carry strings; the SDK's binary serializer leaves integer and boolean extensions as they are. */
function headerStrings(headers: Message["headers"]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name] = String(value);
  return out;
}

/** How the SDK is given a request it reads: bytes for binary data, text for everything else. */
function toSdkEvent(request: ReceivedRequest): CloudEvent<unknown> {
  const isBinaryData = request.headers["content-type"] === "application/octet-stream";
  const event = HTTP.toEvent({
    headers: request.headers,
    body: isBinaryData ? request.body : request.body.toString("utf8"),
  });
  assert.ok(!Array.isArray(event), "one event, not a batch");
  return event as CloudEvent<unknown>;
}

/** The set attributes of an SDK event, without its data. */
function attributesOf(event: CloudEvent<unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(event).filter(
      ([name, value]) => value !== undefined && name !== "data" && name !== "data_base64",
    ),
  );
}

/**
 * Asserts the SDK read back every attribute and the data that was sent. Herald delivers in binary
 * mode, where an integer or boolean extension travels as its canonical string (HTTP binding 3.1.3,
 * CloudEvents 3.1.1 type system), so those are compared as strings.
 */
function assertSameEvent(received: CloudEvent<unknown>, sent: CloudEvent<unknown>): void {
  const expected = Object.fromEntries(
    Object.entries(attributesOf(sent)).map(([name, value]) => [
      name,
      name === "time" ? new Date(value as string).toISOString() : String(value),
    ]),
  );
  assert.deepEqual(attributesOf(received), expected);
  if (ArrayBuffer.isView(sent.data)) {
    assert.ok(Buffer.isBuffer(received.data), `binary data read as ${typeof received.data}`);
    assert.ok(
      received.data.equals(Buffer.from(sent.data.buffer, sent.data.byteOffset, sent.data.byteLength)),
    );
  } else {
    assert.deepEqual(received.data, sent.data);
  }
}

const source = "/herald/test/sdk";
const allBytes = Buffer.from(Array.from({ length: 256 }, (_, byte) => byte));

const cases: { name: string; event: () => CloudEvent<unknown> }[] = [
  {
    name: "JSON data",
    event: () =>
      new CloudEvent<unknown>({
        type: "dev.herald.sdk.json",
        source,
        datacontenttype: "application/json",
        data: {
          order: 42,
          total: 19.5,
          items: ["book", "pen"],
          gift: false,
          note: null,
          nested: { ok: true },
        },
      }),
  },
  {
    name: "text/plain data",
    event: () =>
      new CloudEvent<unknown>({
        type: "dev.herald.sdk.text",
        source,
        datacontenttype: "text/plain",
        data: "plain text, with spaces,\nseveral lines and ünïcödé ✓",
      }),
  },
  {
    name: "binary data from a Buffer",
    event: () =>
      new CloudEvent<unknown>({
        type: "dev.herald.sdk.binary",
        source,
        datacontenttype: "application/octet-stream",
        data: allBytes,
      }),
  },
  {
    name: "binary data from a Uint8Array",
    event: () =>
      new CloudEvent<unknown>({
        type: "dev.herald.sdk.binary",
        source,
        datacontenttype: "application/octet-stream",
        data: new Uint8Array([0, 1, 2, 127, 128, 253, 254, 255]),
      }),
  },
  {
    name: "extensions (string, integer, boolean)",
    event: () =>
      new CloudEvent<unknown>({
        type: "dev.herald.sdk.extensions",
        source,
        datacontenttype: "application/json",
        data: { ok: true },
        tenant: "acme",
        partitionkey: "order-42",
        priority: 7,
        urgent: true,
      }),
  },
  {
    name: "subject, time and dataschema",
    event: () =>
      new CloudEvent<unknown>({
        type: "dev.herald.sdk.optional",
        source,
        subject: "orders/42",
        time: "2024-05-06T07:08:09.123Z",
        dataschema: "https://schemas.example.com/order/v1.json",
        datacontenttype: "application/json",
        data: { order: 42 },
      }),
  },
];

describe("CloudEvents JavaScript SDK interoperability", () => {
  let herald: HeraldProcess;
  let subscriber: Receiver;
  let replies: Receiver;
  let channelUrl: string;

  /** The SDK's emitter, over a transport that insists on Herald's 202 (httpTransport hides the status). */
  const emitter = (mode: Mode) =>
    emitterFor(
      async (message: Message) => {
        const response = await fetch(channelUrl, {
          method: "POST",
          headers: headerStrings(message.headers),
          body: typeof message.body === "string" ? message.body : new Uint8Array(message.body as Uint8Array),
        });
        const text = await response.text();
        assert.equal(response.status, 202, `Herald answered ${response.status}: ${text}`);
      },
      { binding: HTTP, mode },
    );

  const deliveredTo = (receiver: Receiver, id: string) =>
    eventually(() => receiver.requests.find((request) => request.headers["ce-id"] === id), {
      message: `event ${id} at the receiver`,
    });

  before(async () => {
    herald = await HeraldProcess.start();
    subscriber = await startReceiver();
    replies = await startReceiver();
    await herald.apply(`
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: sdk-interop }
spec:
  channelTemplate: { apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel }
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: sdk-interop }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: sdk-interop }
  subscriber: { uri: "${subscriber.url}" }
  reply: { uri: "${replies.url}" }
`);
    channelUrl = herald.channelUrl("sdk-interop");
    await eventually(
      async () => {
        const { body } = await herald.get<{ status: { conditions?: { type: string; status: string }[] } }>(
          "/apis/messaging.knative.dev/v1/namespaces/default/subscriptions/sdk-interop",
        );
        return body.status.conditions?.some((c) => c.type === "Ready" && c.status === "True");
      },
      { message: "the subscription to be ready" },
    );
  });
  after(async () => {
    await herald.close();
    await subscriber.close();
    await replies.close();
  });

  for (const mode of [Mode.BINARY, Mode.STRUCTURED]) {
    for (const { name, event } of cases) {
      it(`${mode} mode, ${name}: the SDK reads what Herald delivers as the event it sent`, async () => {
        const sent = event();
        await emitter(mode)(sent);
        assertSameEvent(toSdkEvent(await deliveredTo(subscriber, sent.id)), sent);
      });
    }
  }

  it("the SDK's own HTTP transport (emitterFor + httpTransport) publishes to a channel in both modes", async () => {
    for (const mode of [Mode.BINARY, Mode.STRUCTURED]) {
      const sent = new CloudEvent<unknown>({
        type: "dev.herald.sdk.transport",
        source,
        datacontenttype: "application/json",
        data: { mode },
      });
      await emitterFor(httpTransport(channelUrl), { mode })(sent);
      assertSameEvent(toSdkEvent(await deliveredTo(subscriber, sent.id)), sent);
    }
  });

  it("attribute values with spaces, quotes, percent signs and non-ASCII arrive percent-encoded, as the binding requires", async () => {
    // HTTP binding 3.1.3.2: a sender percent-encodes these characters and a receiver decodes them.
    // The SDK (v10) does neither, so its header values are compared after decoding.
    const sent = new CloudEvent<unknown>({
      type: "dev.herald.sdk.encoding",
      source,
      subject: 'naïve "quoted" 100% sure',
      datacontenttype: "text/plain",
      data: "x",
    });
    await emitter(Mode.STRUCTURED)(sent);
    const delivered = await deliveredTo(subscriber, sent.id);
    assert.equal(delivered.headers["ce-subject"], "na%C3%AFve%20%22quoted%22%20100%25%20sure");
    assert.equal(decodeURIComponent(toSdkEvent(delivered).subject!), sent.subject);
  });

  it("accepts a percent sign the SDK sends unencoded in binary mode", async () => {
    const sent = new CloudEvent<unknown>({
      type: "dev.herald.sdk.encoding",
      source,
      subject: "50%-off",
      discount: "100%",
      datacontenttype: "text/plain",
      data: "x",
    });
    await emitter(Mode.BINARY)(sent);
    const received = toSdkEvent(await deliveredTo(subscriber, sent.id));
    assert.equal(decodeURIComponent(received.subject!), "50%-off");
    assert.equal(decodeURIComponent(received.discount as string), "100%");
  });

  for (const mode of [Mode.BINARY, Mode.STRUCTURED]) {
    it(`a subscriber's reply built by the SDK in ${mode} mode reaches spec.reply, and the SDK reads it back`, async () => {
      const reply = new CloudEvent<unknown>({
        type: "dev.herald.sdk.reply",
        source: "/herald/test/sdk/subscriber",
        subject: `reply-${mode}`,
        datacontenttype: "application/json",
        data: { processed: true, mode },
        correlation: "order-42",
      });
      const trigger = new CloudEvent<unknown>({
        type: "dev.herald.sdk.wants-reply",
        source,
        datacontenttype: "application/json",
        data: { reply: mode },
      });
      subscriber.respond = (request) => {
        if (request.headers["ce-id"] !== trigger.id) return { status: 202 };
        const message = mode === Mode.BINARY ? HTTP.binary(reply) : HTTP.structured(reply);
        return {
          status: 200,
          headers: headerStrings(message.headers),
          body: message.body as string | Buffer,
        };
      };
      try {
        await emitter(Mode.BINARY)(trigger);
        // Herald adds one attribute to a reply: its hop count (Knative's knativebrokerttl), one less
        // than the 255 the event it answers started with.
        const received = toSdkEvent(await deliveredTo(replies, reply.id));
        assertSameEvent(received, reply.cloneWith({ knativebrokerttl: "254" }));
      } finally {
        subscriber.respond = () => ({ status: 202 });
      }
    });
  }
});
