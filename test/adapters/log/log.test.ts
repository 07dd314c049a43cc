import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { pino } from "pino";
import type { ChannelAdapter } from "../../../adapters/adapter.js";
import { logConfig } from "../../../adapters/log/config.js";
import { LogChannelAdapter, logChannelPlugin } from "../../../adapters/log/index.js";
import { logChannelSpecSchema, type LogChannelSpec } from "../../../adapters/log/spec.js";
import { describeChannelAdapter } from "../conformance.js";

const logger = pino({ level: "silent" });
const folder = await mkdtemp(join(tmpdir(), "herald-log-conformance-"));
after(() => rm(folder, { recursive: true, force: true }));

function logAdapter(dir: string): LogChannelAdapter {
  const adapter = logChannelPlugin.create({ config: logConfig.schema.parse({ dir }), logger });
  assert.ok(adapter instanceof LogChannelAdapter);
  return adapter;
}

/** The suite's first adapter: it creates and writes every test channel (the others follow it). */
let writer: LogChannelAdapter | undefined;

describeChannelAdapter<LogChannelSpec>(
  "LogChannel",
  {
    create: (): ChannelAdapter<LogChannelSpec> => {
      const adapter = logAdapter(folder);
      writer ??= adapter;
      return adapter;
    },
    channelSpec: () => logChannelSpecSchema.parse({}),
    // The log's backend is the local disk: one the adapter cannot use is a folder under a plain
    // file (ENOTDIR for every operation, root or not). The address has no meaning here.
    unreachable: async () => {
      const file = join(folder, "not-a-folder");
      await writeFile(file, "");
      return logAdapter(join(file, "channels"));
    },
  },
  {
    durable: true,
    // One process owns a folder; instances of one process follow the writer's log.
    sharedAcrossInstances: false,
    orderedScope: "channel",
    replay: { from: ["beginning", "time", "offset"] },
    // About 25 records of the suite's events (163 bytes each) fill 4 KiB.
    boundedCapacity: {
      capacity: 25,
      channelSpec: () => logChannelSpecSchema.parse({ retentionBytes: 4096, segmentBytes: 1024 }),
    },
    // A record whose checksum is right but whose payload is not an event (another writer's format).
    undecodable: async (channel, body) => {
      assert.ok(writer);
      await (await writer.logOf(channel)).appendPayloads([body]);
    },
  },
);
