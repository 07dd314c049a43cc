// needs: tmpfs
import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { HeraldProcess, InProcessHerald, postEvent } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";
import { channelWithSubscription, missing } from "../support/streams.js";
import { mountTmpfs } from "../support/tmpfs.js";

const LOG_CHANNEL = "apiVersion: messaging.herald.dev/v1alpha1\n    kind: LogChannel";
const KILLS = 10;
/** Events answered 202 between two kills, at least. */
const ACCEPTED_BETWEEN_KILLS = 25;
const POSTERS = 4;

/** The data each event carries: its id and a padding, so that a torn or mixed-up record shows. */
const dataOf = (id: string) => JSON.stringify({ id, padding: id.repeat(20) });

type Condition = { type: string; status: string; reason?: string; message?: string };
const conditionOf = (resource: { status?: Record<string, unknown> }, type: string) =>
  (resource.status?.conditions as Condition[] | undefined)?.find((c) => c.type === type);

describe("LogChannel through Herald, when Herald is SIGKILLed mid-stream again and again", () => {
  let receiver: Receiver;
  let herald: HeraldProcess;
  before(async () => {
    receiver = await startReceiver();
    herald = await HeraldProcess.start();
  });
  after(async () => {
    await herald.close();
    await receiver.close();
  });

  it(`delivers every event answered 202, intact, across ${KILLS} kills at random moments`, async () => {
    await herald.apply(
      channelWithSubscription({ name: "log-kill", subscriber: receiver.url, template: LOG_CHANNEL }),
    );
    const url = herald.channelUrl("log-kill");
    const accepted = new Set<string>();
    let sequence = 0;
    let stopped = false;
    // Posters keep requests in flight all the time, so a kill lands during publishes, syncs and deliveries.
    const posters = Array.from({ length: POSTERS }, async () => {
      while (!stopped) {
        const id = `kill-${sequence++}`;
        const status = await postEvent(url, { id, data: dataOf(id) }).catch(() => 0);
        if (status === 202) accepted.add(id);
        // Herald is down (restarting): try again shortly rather than spin.
        else if (status === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      }
    });
    try {
      for (let kill = 0; kill < KILLS; kill++) {
        const before = accepted.size;
        await eventually(() => accepted.size >= before + ACCEPTED_BETWEEN_KILLS, {
          timeoutMs: 30_000,
          message: `${ACCEPTED_BETWEEN_KILLS} more events accepted before kill ${kill + 1}`,
        });
        // A random moment within the stream, not right after a request was answered.
        await new Promise((resolve) => setTimeout(resolve, randomInt(0, 50)));
        await herald.kill();
        await herald.start();
      }
    } finally {
      stopped = true;
      await Promise.all(posters);
    }
    assert.ok(accepted.size >= KILLS * ACCEPTED_BETWEEN_KILLS);
    await eventually(() => missing(accepted, receiver).length === 0, {
      timeoutMs: 60_000,
      message: "every accepted event delivered",
    });
    for (const request of receiver.requests) {
      const id = String(request.headers["ce-id"]);
      assert.equal(request.body.toString(), dataOf(id), `the data of ${id} arrived intact`);
    }
  });
});

describe("LogChannel through Herald on a full disk", () => {
  let disk: Awaited<ReturnType<typeof mountTmpfs>>;
  before(async () => {
    disk = await mountTmpfs(1024 * 1024);
  });
  after(async () => {
    if (typeof disk !== "string") await disk.unmount();
  });

  it("answers 503 and shows BackendReady=False with the reason until space is freed, then takes and delivers events again", async (t) => {
    if (typeof disk === "string") assert.fail(disk);
    const receiver = await startReceiver();
    const herald = await InProcessHerald.start({ env: { HERALD_LOG_DIR: join(disk.dir, "channels") } });
    t.after(async () => {
      await herald.close();
      await receiver.close();
    });
    await herald.apply(
      channelWithSubscription({ name: "log-full", subscriber: receiver.url, template: LOG_CHANNEL }),
    );
    const url = herald.channelUrl("log-full");
    const filler = join(disk.dir, "filler");
    await writeFile(filler, Buffer.alloc(832 * 1024));

    const accepted = new Set<string>();
    const padding = "x".repeat(8 * 1024);
    let refused: string | undefined;
    for (let index = 0; index < 200 && !refused; index++) {
      const id = `full-${index}`;
      const status = await postEvent(url, { id, data: JSON.stringify({ id, padding }) });
      if (status === 202) accepted.add(id);
      else {
        assert.equal(status, 503);
        refused = id;
      }
    }
    assert.ok(refused, "the full disk refused an event");
    const path = "/apis/messaging.herald.dev/v1alpha1/namespaces/default/logchannels/log-full";
    await eventually(
      async () => {
        const { body } = await herald.get(path);
        const ready = conditionOf(body, "BackendReady");
        return ready?.status === "False" && /is full \(ENOSPC\)/.test(ready.message ?? "");
      },
      { timeoutMs: 15_000, message: "BackendReady=False naming the full disk" },
    );
    assert.equal((await fetch(`${herald.url}/readyz`)).status, 503);
    const refusedAgain = await postEvent(url, {
      id: "while-full",
      data: JSON.stringify({ id: "while-full", padding }),
    });
    assert.equal(refusedAgain, 503);

    await rm(filler);
    await eventually(async () => (await postEvent(url, { id: "after" })) === 202, {
      timeoutMs: 15_000,
      intervalMs: 250,
      message: "events accepted again once space is freed",
    });
    await eventually(() => missing(new Set([...accepted, "after"]), receiver).length === 0, {
      message: "every accepted event delivered",
    });
    const delivered = new Set(receiver.requests.map((request) => String(request.headers["ce-id"])));
    assert.equal(delivered.has(refused), false, "a refused event is never delivered");
    assert.equal(delivered.has("while-full"), false, "a refused event is never delivered");
  });
});
