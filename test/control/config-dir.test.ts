import assert from "node:assert/strict";
import { mkdir, mkdtemp, rename, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { HeraldProcess } from "../support/herald.js";

const CHANNELS = "/apis/messaging.knative.dev/v1/namespaces/default/channels";
const GONE = "config folder is gone";

const channel = (name: string) =>
  `apiVersion: messaging.knative.dev/v1\nkind: Channel\nmetadata: { name: ${name} }\n`;

describe("--config folder that goes away while Herald runs", () => {
  let parent: string;
  let dir: string;
  let herald: HeraldProcess;
  const status = async (name: string) => (await herald.get(`${CHANNELS}/${name}`)).status;
  const timesGone = () => herald.output.split(GONE).length - 1;

  before(async () => {
    parent = await mkdtemp(join(tmpdir(), "herald-config-"));
    dir = join(parent, "manifests");
    await mkdir(dir);
    await writeFile(join(dir, "first.yaml"), channel("before-removal"));
    herald = await HeraldProcess.start({ args: ["--config", dir] });
  });
  after(async () => {
    await herald.close();
    await rm(parent, { recursive: true, force: true });
  });

  it("keeps running and keeps its resources when the folder is deleted, and loads it when it is back", async () => {
    assert.equal(await status("before-removal"), 200);

    await rm(dir, { recursive: true });
    await eventually(
      () => {
        assert.equal(herald.child?.exitCode, null, `herald exited:\n${herald.output}`);
        return timesGone() === 1;
      },
      { message: "the warning that the folder is gone" },
    );
    assert.ok(herald.output.includes(`"dir":${JSON.stringify(dir)}`), "the warning names the folder");
    assert.equal((await fetch(`${herald.url}/healthz`)).status, 200);
    assert.equal(await status("before-removal"), 200);

    await mkdir(dir);
    await writeFile(join(dir, "second.yaml"), channel("after-return"));
    await eventually(async () => (await status("after-return")) === 200, {
      timeoutMs: 15_000,
      message: "the channel of the re-created folder",
    });
    // What the old folder defined is kept, as across a restart.
    assert.equal(await status("before-removal"), 200);

    // The re-created folder is watched: a file added, then removed.
    await writeFile(join(dir, "third.yaml"), channel("added-to-new-folder"));
    await eventually(async () => (await status("added-to-new-folder")) === 200, {
      message: "a file added to the re-created folder to apply",
    });
    await unlink(join(dir, "third.yaml"));
    await eventually(async () => (await status("added-to-new-folder")) === 404, {
      message: "a file removed from the re-created folder to delete its channel",
    });
  });

  it("keeps running when the folder is renamed away, and follows it when it is renamed back", async () => {
    const away = join(parent, "manifests-away");
    await rename(dir, away);
    await eventually(() => timesGone() === 2, { message: "the warning that the folder is gone again" });
    assert.equal(herald.child?.exitCode, null);
    assert.equal((await fetch(`${herald.url}/healthz`)).status, 200);
    assert.equal(await status("after-return"), 200);

    await writeFile(join(away, "fourth.yaml"), channel("written-while-away"));
    await rename(away, dir);
    await eventually(async () => (await status("written-while-away")) === 200, {
      timeoutMs: 15_000,
      message: "the channel of the folder renamed back",
    });
  });
});
