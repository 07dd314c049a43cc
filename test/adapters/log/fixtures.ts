import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino, type Logger } from "pino";
import type { ChannelTarget, EventHandler, SubscriptionTarget } from "../../../adapters/adapter.js";
import { logConfig } from "../../../adapters/log/config.js";
import { LogChannelAdapter, logChannelPlugin } from "../../../adapters/log/index.js";
import { logChannelSpecSchema, type LogChannelSpec } from "../../../adapters/log/spec.js";
import type { CloudEvent } from "../../../src/events/event.js";
import { testSubscription } from "../../support/adapter-fixtures.js";

/** A pino logger whose entries (level 30 and up) are kept, parsed, in `entries`. */
export function capturingLogger(): { logger: Logger; entries: Record<string, unknown>[] } {
  const entries: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n"))
        if (line) entries.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: "info" }, stream), entries };
}

export function logAdapter(dir: string, logger: Logger = pino({ level: "silent" })): LogChannelAdapter {
  const adapter = logChannelPlugin.create({ config: logConfig.schema.parse({ dir }), logger });
  assert.ok(adapter instanceof LogChannelAdapter);
  return adapter;
}

/** A temporary folder, removed when `t` ends. */
export async function temporaryFolder(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "herald-log-test-"));
  // Runs before the test's own `t.after(() => adapter.close())`: a subscription still storing its
  // position may add a file while the folder goes, which rm then retries.
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 20 }));
  return dir;
}

export function logChannel(spec: Record<string, unknown> = {}): ChannelTarget<LogChannelSpec> {
  return {
    namespace: "default",
    name: `c-${randomUUID().slice(0, 8)}`,
    uid: randomUUID(),
    spec: logChannelSpecSchema.parse(spec),
  };
}

export const orderedSubscription = (name = "s"): SubscriptionTarget => testSubscription(name, "ordered", 1);

/** The segment files of a channel's log, oldest first. */
export async function segmentFiles(dir: string, channel: ChannelTarget<LogChannelSpec>): Promise<string[]> {
  const folder = join(dir, channel.namespace, channel.name, "segments");
  return (await readdir(folder))
    .filter((name) => name.endsWith(".log"))
    .sort()
    .map((name) => join(folder, name));
}

/** A handler recording every event it acknowledges, in order. */
export function collector(): { events: CloudEvent[]; ids: () => string[]; handler: EventHandler } {
  const events: CloudEvent[] = [];
  return {
    events,
    ids: () => events.map((event) => String(event.attributes.id)),
    handler: async (event) => {
      events.push(event);
    },
  };
}

export const publishOptions = () => ({ signal: AbortSignal.timeout(10_000) });
