// needs: tmpfs
import assert from "node:assert/strict";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { HeraldError } from "../../../src/errors.js";
import { testEvent } from "../../support/adapter-fixtures.js";
import { eventually } from "../../support/eventually.js";
import { mountTmpfs } from "../../support/tmpfs.js";
import { collector, logAdapter, logChannel, orderedSubscription, publishOptions } from "./fixtures.js";

const DISK_BYTES = 1024 * 1024;
const FILLER_BYTES = 832 * 1024;
const eventOf = (id: string) => ({ ...testEvent(id), data: Buffer.alloc(8 * 1024, 1) });

describe("LogChannel on a full disk", () => {
  let disk: Awaited<ReturnType<typeof mountTmpfs>>;
  before(async () => {
    disk = await mountTmpfs(DISK_BYTES);
  });
  after(async () => {
    if (typeof disk !== "string") await disk.unmount();
  });

  it("refuses publishes with BackendUnavailable naming the full disk, keeps every accepted event, and takes events again once space is freed", async (t) => {
    if (typeof disk === "string") assert.fail(disk);
    const filler = join(disk.dir, "filler");
    await writeFile(filler, Buffer.alloc(FILLER_BYTES));
    const adapter = logAdapter(join(disk.dir, "channels"));
    t.after(() => adapter.close());
    const channel = logChannel();
    await adapter.createChannel(channel);
    const received = collector();
    await adapter.subscribe(channel, orderedSubscription(), received.handler);

    const accepted: string[] = [];
    let refusal: unknown;
    for (let index = 0; index < 200 && refusal === undefined; index++) {
      try {
        await adapter.publish(channel, [eventOf(`full-${index}`)], publishOptions());
        accepted.push(`full-${index}`);
      } catch (error) {
        refusal = error;
      }
    }
    assert.ok(accepted.length > 0, "some events fit before the disk was full");
    assert.ok(refusal instanceof HeraldError, `refused with a HeraldError (got ${String(refusal)})`);
    assert.equal(refusal.code, "BackendUnavailable");
    assert.match(refusal.message, /is full \(ENOSPC\)/);
    assert.equal(await adapter.isReady(), false);
    assert.match(adapter.readinessMessage() ?? "", /is full \(ENOSPC\)/);
    await assert.rejects(adapter.createChannel(channel), /is full \(ENOSPC\)/);
    await eventually(() => accepted.every((id) => received.ids().includes(id)), {
      message: "every accepted event delivered",
    });

    await rm(filler);
    assert.equal(await adapter.isReady(), true);
    assert.equal(adapter.readinessMessage(), undefined);
    await adapter.createChannel(channel);
    await adapter.publish(channel, [eventOf("after")], publishOptions());
    await eventually(() => received.ids().includes("after"), {
      message: "the event accepted after space was freed",
    });
    assert.deepEqual(received.ids(), [...accepted, "after"], "the refused event was never delivered");
  });
});
