// needs: nats
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import type { ChannelAdapter, ChannelTarget, EventHandler } from "../../../adapters/adapter.js";
import { natsConfigSchema, type NatsConfig } from "../../../adapters/nats/config.js";
import { natsChannelPlugin } from "../../../adapters/nats/index.js";
import {
  natsJetStreamChannelSpecSchema,
  type NatsJetStreamChannelSpec,
} from "../../../adapters/nats/spec.js";
import { channelSubject, consumerName, streamName } from "../../../adapters/nats/topology.js";
import { HeraldError } from "../../../src/errors.js";
import type { CloudEvent } from "../../../src/events/event.js";
import { testEvent, testSubscription, uniqueName } from "../../support/adapter-fixtures.js";
import { eventually } from "../../support/eventually.js";
import { describeChannelAdapter } from "../conformance.js";
import { NATS_URL, startNatsServer, type NatsServer } from "../../support/nats.js";

type Channel = ChannelTarget<NatsJetStreamChannelSpec>;

const logger = pino({ level: "silent" });
const spec = (input: object = {}) => natsJetStreamChannelSpecSchema.parse(input);

function createAdapter(settings: Partial<NatsConfig> = {}): ChannelAdapter<NatsJetStreamChannelSpec> {
  return natsChannelPlugin.create({
    config: natsConfigSchema.parse({ url: NATS_URL, ...settings }),
    logger,
  });
}

function testChannel(input: object = {}): Channel {
  return { namespace: "default", name: uniqueName("nats"), uid: randomUUID(), spec: spec(input) };
}

/** Publishes raw bytes to the channel's subject with the NATS client itself, as another producer would. */
async function publishRaw(
  channel: Channel,
  body: Uint8Array,
  headers?: Record<string, string>,
): Promise<void> {
  const nc = await connect({ servers: NATS_URL });
  try {
    let natsHeadersOf: ReturnType<typeof natsHeaders> | undefined;
    if (headers) {
      natsHeadersOf = natsHeaders();
      for (const [key, value] of Object.entries(headers)) natsHeadersOf.set(key, value);
    }
    await jetstream(nc).publish(
      channelSubject(channel),
      body,
      natsHeadersOf ? { headers: natsHeadersOf } : {},
    );
  } finally {
    await nc.close();
  }
}

const publish = (adapter: ChannelAdapter<NatsJetStreamChannelSpec>, channel: Channel, events: CloudEvent[]) =>
  adapter.publish(channel, events, { signal: AbortSignal.timeout(10_000) });

/** A handler that records the ids it handled. */
function recording(): { ids: string[]; events: CloudEvent[]; handler: EventHandler } {
  const ids: string[] = [];
  const events: CloudEvent[] = [];
  return {
    ids,
    events,
    handler: async (event) => {
      ids.push(String(event.attributes.id));
      events.push(event);
    },
  };
}

describeChannelAdapter<NatsJetStreamChannelSpec>(
  "NatsJetStreamChannel",
  {
    create: () => createAdapter(),
    channelSpec: () => spec(),
    unreachable: ({ host, port }) => createAdapter({ url: `nats://${host}:${port}` }),
  },
  {
    durable: true,
    sharedAcrossInstances: true,
    orderedScope: "channel",
    replay: { from: ["beginning", "time", "offset"] },
    // Interest retention: an acknowledged message leaves the stream, so the limit bounds the backlog.
    boundedCapacity: {
      capacity: 4,
      channelSpec: () => spec({ stream: { config: { retention: "Interest", maxMsgs: 5, discard: "New" } } }),
    },
    undecodable: (channel, body) => publishRaw(channel, body),
  },
);

describe("NatsJetStreamChannel on a real NATS server", () => {
  let adapter: ChannelAdapter<NatsJetStreamChannelSpec>;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const channels: Channel[] = [];

  before(async () => {
    adapter = createAdapter();
    nc = await connect({ servers: NATS_URL });
    jsm = await jetstreamManager(nc);
  });
  after(async () => {
    for (const channel of channels) await adapter.deleteChannel(channel).catch(() => undefined);
    await adapter.close();
    await nc.close();
  });

  async function created(input: object = {}): Promise<Channel> {
    const channel = testChannel(input);
    await adapter.createChannel(channel);
    channels.push(channel);
    return channel;
  }

  it("creates the stream the spec describes, updates it on re-apply, and reports its name and subject", async () => {
    const channel = testChannel({
      stream: { config: { maxAge: "1h", maxMsgs: 100, additionalSubjects: [`legacy.${randomUUID()}`] } },
    });
    assert.deepEqual(await adapter.createChannel(channel), {
      stream: streamName(channel),
      subject: `default.${channel.name}._knative`,
    });
    channels.push(channel);
    let info = await jsm.streams.info(streamName(channel));
    assert.equal(info.config.max_age, 3_600_000_000_000);
    assert.equal(info.config.max_msgs, 100);
    assert.deepEqual(info.config.subjects, [
      channelSubject(channel),
      ...channel.spec.stream!.config!.additionalSubjects!,
    ]);

    await adapter.createChannel({ ...channel, spec: spec({ stream: { config: { maxAge: "2h" } } }) });
    info = await jsm.streams.info(streamName(channel));
    assert.equal(info.config.max_age, 7_200_000_000_000);
    assert.equal(info.config.max_msgs, -1, "a field removed from the spec is reset");
    assert.deepEqual(info.config.subjects, [channelSubject(channel)]);
  });

  it("refuses a change JetStream cannot make, with NATS's reason", async () => {
    const channel = await created();
    await assert.rejects(
      adapter.createChannel({ ...channel, spec: spec({ stream: { config: { storage: "Memory" } } }) }),
      /NATS refused stream KN_DEFAULT__NATS_.*storage type/,
    );
  });

  it("deleteChannel removes the stream, unless configured to keep it", async () => {
    const channel = testChannel();
    await adapter.createChannel(channel);
    await adapter.deleteChannel(channel);
    await assert.rejects(jsm.streams.info(streamName(channel)), /stream not found/);

    const keeping = createAdapter({ keepStreamsOnDelete: true });
    try {
      const kept = await created();
      await keeping.createChannel(kept);
      await keeping.deleteChannel(kept);
      assert.equal((await jsm.streams.info(streamName(kept))).config.name, streamName(kept));
    } finally {
      await keeping.close();
    }
  });

  it("keeps one durable consumer per subscription, named after it; ordered ones with one message outstanding", async () => {
    const channel = await created();
    const ordered = testSubscription(uniqueName("ord"), "ordered", 1);
    const unordered = testSubscription(uniqueName("unord"), "unordered", 20);
    const handles = [
      await adapter.subscribe(channel, ordered, async () => undefined),
      await adapter.subscribe(channel, unordered, async () => undefined),
    ];
    const info = await jsm.consumers.info(streamName(channel), consumerName(ordered));
    assert.equal(info.config.durable_name, consumerName(ordered));
    assert.equal(info.config.max_ack_pending, 1);
    assert.equal(info.config.ack_policy, "explicit");
    assert.equal(
      (await jsm.consumers.info(streamName(channel), consumerName(unordered))).config.max_ack_pending,
      1000,
    );
    for (const handle of handles) await handle.close();

    await adapter.deleteSubscription(channel, ordered);
    await assert.rejects(
      jsm.consumers.info(streamName(channel), consumerName(ordered)),
      /consumer not found/,
    );
  });

  it("writes binary-mode CloudEvents with ce- headers, and delivers another producer's structured and binary messages", async () => {
    const extra = `legacy.${randomUUID()}`;
    const channel = await created({ stream: { config: { additionalSubjects: [extra] } } });
    const received = recording();
    const handle = await adapter.subscribe(channel, testSubscription(uniqueName("wire")), received.handler);

    await publish(adapter, channel, [testEvent("herald-1", { subject: "ünïcode" })]);
    const stored = await jsm.streams.getMessage(streamName(channel), { seq: 1 });
    assert.equal(stored!.header.get("ce-id"), "herald-1");
    assert.equal(stored!.header.get("ce-subject"), "%C3%BCn%C3%AFcode");
    assert.equal(stored!.header.get("ce-datacontenttype"), "application/json");

    await jetstream(nc).publish(
      extra,
      JSON.stringify({ specversion: "1.0", id: "structured-1", source: "/other", type: "t", data: { a: 1 } }),
    );
    await publishRaw(channel, new TextEncoder().encode("hi"), {
      "ce-specversion": "1.0",
      "ce-id": "binary-1",
      "ce-source": "/other",
      "ce-type": "t",
      "content-type": "text/plain",
    });
    await eventually(() => received.ids.length === 3, { message: "three events" });
    assert.deepEqual(received.ids, ["herald-1", "structured-1", "binary-1"]);
    assert.equal(received.events[0]!.attributes.subject, "ünïcode");
    assert.equal(received.events[2]!.attributes.datacontenttype, "text/plain");
    await handle.close();
  });

  it("drops a re-sent event (same source and id) within the duplicate window, and keeps one from another source", async () => {
    const channel = await created();
    const received = recording();
    const handle = await adapter.subscribe(channel, testSubscription(uniqueName("dup")), received.handler);
    await publish(adapter, channel, [testEvent("same")]);
    await publish(adapter, channel, [testEvent("same"), testEvent("same", { source: "/elsewhere" })]);
    await publish(adapter, channel, [testEvent("marker")]);
    await eventually(() => received.ids.includes("marker"), { message: "the marker event" });
    assert.deepEqual(received.ids, ["same", "same", "marker"]);
    assert.deepEqual(
      received.events.slice(0, 2).map((event) => event.attributes.source),
      ["/test", "/elsewhere"],
    );
    assert.equal((await jsm.streams.info(streamName(channel))).state.messages, 3);
    await handle.close();
  });

  it("refuses an event larger than the stream's maxMsgSize with PayloadTooLarge", async () => {
    const channel = await created({ stream: { config: { maxMsgSize: 512 } } });
    const large = { ...testEvent("large"), data: Buffer.alloc(2_048, 1) };
    await assert.rejects(
      publish(adapter, channel, [large]),
      (error: unknown) => error instanceof HeraldError && error.code === "PayloadTooLarge",
    );
    await publish(adapter, channel, [testEvent("small")]);
  });
});

describe("NatsJetStreamChannel through a NATS outage", () => {
  let server: NatsServer;
  let adapter: ChannelAdapter<NatsJetStreamChannelSpec>;

  before(async () => {
    server = await startNatsServer();
    adapter = natsChannelPlugin.create({
      config: natsConfigSchema.parse({ url: server.url }),
      logger,
    });
  });
  after(async () => {
    await adapter?.close();
    await server?.destroy();
  });

  it("answers BackendUnavailable while NATS is down, then publishes and delivers again once it is back", async () => {
    const fileChannel = testChannel();
    // A memory stream does not survive the restart: the adapter declares it again on reconnecting.
    const memoryChannel = testChannel({ stream: { config: { storage: "Memory" } } });
    const received = { file: recording(), memory: recording() };
    await adapter.createChannel(fileChannel);
    await adapter.createChannel(memoryChannel);
    await adapter.subscribe(fileChannel, testSubscription(uniqueName("outage-file")), received.file.handler);
    await adapter.subscribe(
      memoryChannel,
      testSubscription(uniqueName("outage-mem")),
      received.memory.handler,
    );
    await publish(adapter, fileChannel, [testEvent("before")]);
    await eventually(() => received.file.ids.includes("before"), { message: "the event before the outage" });

    await server.stop();
    await eventually(async () => !(await adapter.isReady()), { message: "isReady() false" });
    const startedAt = Date.now();
    await assert.rejects(
      adapter.publish(fileChannel, [testEvent("during")], { signal: AbortSignal.timeout(2_000) }),
      (error: unknown) => error instanceof HeraldError && error.code === "BackendUnavailable",
    );
    assert.ok(Date.now() - startedAt < 2_500, "rejected within the deadline");

    await server.restart();
    await eventually(() => adapter.isReady(), { timeoutMs: 20_000, message: "isReady() true again" });
    await eventually(
      async () => {
        await publish(adapter, fileChannel, [testEvent("after")]);
        await publish(adapter, memoryChannel, [testEvent("after-memory")]);
        return true;
      },
      { timeoutMs: 20_000, message: "publishes accepted again" },
    );
    await eventually(
      () => received.file.ids.includes("after") && received.memory.ids.includes("after-memory"),
      {
        timeoutMs: 20_000,
        message: "delivery resumed on both channels",
      },
    );
    assert.deepEqual(
      received.file.ids.filter((id) => id === "before"),
      ["before"],
      "the event acknowledged before the outage is not redelivered",
    );
  });
});
