// needs: rabbitmq
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { pino } from "pino";
import type { ChannelAdapter, ChannelTarget } from "../../../adapters/adapter.js";
import { rabbitmqConfig } from "../../../adapters/rabbitmq/config.js";
import { rabbitmqChannelPlugin } from "../../../adapters/rabbitmq/index.js";
import { rabbitmqChannelSpecSchema, type RabbitmqChannelSpec } from "../../../adapters/rabbitmq/spec.js";
import { Recorder, testEvent, testSubscription, uniqueName } from "../../support/adapter-fixtures.js";
import { eventually } from "../../support/eventually.js";
import { RABBITMQ_URL } from "../../support/rabbitmq.js";

const logger = pino({ level: "silent" });

function streamAdapter(dataDir: string): ChannelAdapter<RabbitmqChannelSpec> {
  return rabbitmqChannelPlugin.create({
    config: rabbitmqConfig.schema.parse({ url: RABBITMQ_URL }),
    logger,
    dataDir,
  });
}

const now = () => ({ signal: AbortSignal.timeout(10_000) });

describe("RabbitmqChannel with queueType: stream", () => {
  it("keeps each subscription's position in the data directory: a restarted adapter continues where the closed one left, nothing replayed", async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), "herald-rabbitmq-stream-"));
    t.after(() => rm(dataDir, { recursive: true, force: true }));
    const channel: ChannelTarget<RabbitmqChannelSpec> = {
      namespace: "default",
      name: uniqueName("stream"),
      uid: randomUUID(),
      spec: rabbitmqChannelSpecSchema.parse({ queueType: "stream" }),
    };
    const target = testSubscription(uniqueName("stream-sub"), "ordered", 1);
    const first = streamAdapter(dataDir);
    await first.createChannel(channel);
    const recorder = new Recorder();
    await first.subscribe(channel, target, recorder.handler);
    await first.publish(channel, [testEvent("s-0"), testEvent("s-1")], now());
    await eventually(() => recorder.handledAll(["s-0", "s-1"]), { message: "the first events" });
    await first.close();

    const second = streamAdapter(dataDir);
    t.after(async () => {
      await second.deleteSubscription(channel, target).catch(() => undefined);
      await second.deleteChannel(channel).catch(() => undefined);
      await second.close();
    });
    await second.createChannel(channel);
    await second.publish(channel, [testEvent("s-2")], now());
    const next = new Recorder();
    await second.subscribe(channel, target, next.handler);
    await eventually(() => next.handled("s-2"), { message: "the event published while nobody consumed" });
    assert.deepEqual(next.firstSuccesses(), ["s-2"]);
    assert.equal(second.replaySupport?.(channel).replayable, true);
  });
});
