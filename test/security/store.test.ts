import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { HeraldProcess, InProcessHerald, postEvent } from "../support/herald.js";
import { startReceiver } from "../support/receiver.js";

const CHANNELS = "/apis/messaging.knative.dev/v1/namespaces/default/channels";
const CONFIGMAPS = "/api/v1/namespaces/default/configmaps";

interface Saved {
  version: number;
  resources: { kind: string; metadata: { name: string } }[];
}

async function saved(dataDir: string, file = "resources.json"): Promise<string[]> {
  const snapshot = JSON.parse(await readFile(join(dataDir, file), "utf8")) as Saved;
  return snapshot.resources.map((r) => `${r.kind}/${r.metadata.name}`).sort();
}

async function send(
  url: string,
  method: string,
  body: unknown,
): Promise<{ status: number; body: { code?: string; message?: string } }> {
  const response = await fetch(url, {
    method,
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { code?: string; message?: string } };
}

/** A Channel whose template spec holds `depth` nested arrays, as JSON text (JSON.parse takes it). */
function deepChannel(name: string, depth: number): string {
  return `{"metadata":{"name":"${name}"},"spec":{"channelTemplate":{"apiVersion":"messaging.knative.dev/v1","kind":"InMemoryChannel","spec":{"x":${"[".repeat(depth)}${"]".repeat(depth)}}}}}`;
}

const configMap = (name: string, data: Record<string, string> = { a: "b" }) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name },
  data,
});

describe("a manifest that cannot be persisted", () => {
  let dataDir: string;
  let herald: InProcessHerald;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "herald-store-"));
    herald = await InProcessHerald.start({ dataDir, config: { maxResources: 5 } });
  });
  after(async () => {
    await herald.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("refuses 20 000 nested arrays with 422 naming the depth limit; later channels apply, run and persist", async () => {
    const deep = await send(`${herald.url}${CHANNELS}`, "POST", deepChannel("deepch", 20_000));
    assert.equal(deep.status, 422, JSON.stringify(deep.body));
    assert.equal(deep.body.code, "InvalidResource");
    assert.match(deep.body.message ?? "", /spec\.channelTemplate\.spec\.x.*deeper than 32 levels/);
    assert.equal((await herald.get(`${CHANNELS}/deepch`)).status, 404);

    const innocent = await send(`${herald.url}${CHANNELS}`, "POST", { metadata: { name: "innocent" } });
    assert.equal(innocent.status, 201, JSON.stringify(innocent.body));
    await eventually(async () => (await postEvent(herald.channelUrl("innocent"))) === 202, {
      message: "the innocent channel to take events",
    });
    assert.ok((await saved(dataDir)).includes("Channel/innocent"));
  });

  it("refuses a resource over 1 MiB with 422 naming the size limit", async () => {
    const big = await send(
      `${herald.url}${CONFIGMAPS}`,
      "POST",
      configMap("big", { a: "x".repeat(1_100_000) }),
    );
    assert.equal(big.status, 422, JSON.stringify(big.body));
    assert.match(big.body.message ?? "", /more than 1048576 bytes, the limit of a resource/);
    assert.equal((await herald.get(`${CONFIGMAPS}/big`)).status, 404);
  });

  it("answers 500 naming the file when the snapshot cannot be written, applies nothing, and applies again once it can", async () => {
    // The temporary file's name taken by a folder: the write fails as a full or broken disk would.
    const blocker = join(dataDir, `resources.json.${process.pid}.tmp`);
    await mkdir(blocker);
    const before = await readFile(join(dataDir, "resources.json"), "utf8");
    const refused = await send(`${herald.url}${CONFIGMAPS}`, "POST", configMap("unsaved"));
    assert.equal(refused.status, 500, JSON.stringify(refused.body));
    assert.match(refused.body.message ?? "", /could not be saved in .*resources\.json/);
    assert.equal((await herald.get(`${CONFIGMAPS}/unsaved`)).status, 404);
    const deleted = await fetch(`${herald.url}${CHANNELS}/innocent`, { method: "DELETE" });
    assert.equal(deleted.status, 500);
    assert.equal((await herald.get(`${CHANNELS}/innocent`)).status, 200);
    assert.equal(await readFile(join(dataDir, "resources.json"), "utf8"), before);

    await rmdir(blocker);
    const applied = await send(`${herald.url}${CONFIGMAPS}`, "POST", configMap("saved"));
    assert.equal(applied.status, 201, JSON.stringify(applied.body));
    assert.equal((await herald.get(`${CONFIGMAPS}/unsaved`)).status, 404);
    const names = await saved(dataDir);
    assert.ok(names.includes("ConfigMap/saved") && !names.includes("ConfigMap/unsaved"), String(names));
    assert.equal(await postEvent(herald.channelUrl("innocent")), 202);
  });

  it("refuses an apply beyond HERALD_MAX_RESOURCES with 422 naming the limit, applying none of it", async () => {
    // Held now: Channel innocent, its InMemoryChannel, ConfigMap saved (3 of 5).
    const response = await fetch(`${herald.url}/apply`, {
      method: "POST",
      headers: { "content-type": "application/yaml" },
      body: ["one", "two", "three"]
        .map((name) => `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ${name} }\ndata: { a: b }\n`)
        .join("---\n"),
    });
    const body = (await response.json()) as { message: string };
    assert.equal(response.status, 422, JSON.stringify(body));
    assert.match(body.message, /at most 5 resources \(HERALD_MAX_RESOURCES\)/);
    assert.equal((await herald.get(`${CONFIGMAPS}/one`)).status, 404);
    // Replacing what exists is always allowed, and so is what fits.
    assert.equal(
      (await send(`${herald.url}${CONFIGMAPS}/saved`, "PUT", configMap("saved", { c: "d" }))).status,
      200,
    );
    assert.equal((await send(`${herald.url}${CONFIGMAPS}`, "POST", configMap("one"))).status, 201);
  });

  it("keeps the previous snapshot as resources.json.bak, and makes the data directory and its files owner-only", async () => {
    const names = await saved(dataDir);
    await herald.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: { name: newest }\ndata: { a: b }\n");
    assert.deepEqual(await saved(dataDir, "resources.json.bak"), names);
    assert.ok((await saved(dataDir)).includes("ConfigMap/newest"));
    assert.equal((await stat(dataDir)).mode & 0o777, 0o700);
    assert.equal((await stat(join(dataDir, "resources.json"))).mode & 0o777, 0o600);
    assert.equal((await stat(join(dataDir, "resources.json.bak"))).mode & 0o777, 0o600);
    assert.deepEqual(
      (await readdir(dataDir)).filter((f) => f.endsWith(".tmp")),
      [],
    );
  });

  it("keeps everything across a restart", async () => {
    await herald.close();
    herald = await InProcessHerald.start({ dataDir, config: { maxResources: 5 } });
    assert.equal((await herald.get(`${CHANNELS}/innocent`)).status, 200);
    assert.equal((await herald.get(`${CONFIGMAPS}/newest`)).status, 200);
    await eventually(async () => (await postEvent(herald.channelUrl("innocent"))) === 202);
  });
});

describe("source state files", () => {
  it("live in an owner-only folder of the data directory, as owner-only files", async () => {
    const receiver = await startReceiver();
    const herald = await InProcessHerald.start();
    try {
      await herald.apply(`apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: { name: every-second }
spec:
  schedule: "* * * * * *"
  data: tick
  sink: { uri: "${receiver.url}" }
`);
      const folder = join(herald.dataDir, "sources");
      const file = await eventually(async () => (await readdir(folder)).find((f) => f.endsWith(".json")), {
        message: "the PingSource to save its state",
      });
      assert.equal((await stat(folder)).mode & 0o777, 0o700);
      assert.equal((await stat(join(folder, file))).mode & 0o777, 0o600);
    } finally {
      await herald.close();
      await receiver.close();
    }
  });
});

describe("a store file that is empty or corrupt at start", () => {
  let dataDir: string;
  let herald: HeraldProcess | undefined;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "herald-store-start-"));
  });
  after(async () => {
    await herald?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("falls back to resources.json.bak, naming both files in the log, and removes stale temporary files", async () => {
    herald = await HeraldProcess.start({ dataDir });
    await herald.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: { name: first }\ndata: { a: b }\n");
    await herald.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: { name: second }\ndata: { a: b }\n");
    await herald.kill();
    // What a power loss can leave: an empty snapshot, and the temporary file of a killed write.
    await writeFile(join(dataDir, "resources.json"), "");
    await writeFile(join(dataDir, "resources.json.4242.tmp"), '{"version": 9, "resou');
    await herald.start();
    assert.equal((await herald.get(`${CONFIGMAPS}/first`)).status, 200);
    assert.equal((await herald.get(`${CONFIGMAPS}/second`)).status, 404);
    assert.match(herald.output, new RegExp(`${join(dataDir, "resources.json")}.*empty`));
    assert.match(herald.output, /loaded the backup snapshot/);
    assert.match(herald.output, /resources\.json\.bak/);
    const files = await readdir(dataDir);
    assert.ok(!files.includes("resources.json.4242.tmp"), String(files));
    assert.ok(
      files.some((f) => f.startsWith("resources.json.corrupt-")),
      String(files),
    );
    // The next write keeps the backup it started from, not the unreadable file.
    await herald.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: { name: third }\ndata: { a: b }\n");
    assert.deepEqual(await saved(dataDir, "resources.json.bak"), ["ConfigMap/first"]);
    assert.deepEqual(await saved(dataDir), ["ConfigMap/first", "ConfigMap/third"]);
    await herald.stop();
  });

  it("refuses to start on a truncated snapshot without a usable backup, naming both files", async () => {
    await rm(join(dataDir, "resources.json.bak"));
    await writeFile(join(dataDir, "resources.json"), '{"version": 3, "resources": [{"apiVe');
    await assert.rejects(herald!.start(), (error: Error) => {
      assert.match(error.message, /exited with 1/);
      assert.match(error.message, /resources\.json is not a resource snapshot/);
      assert.match(error.message, /resources\.json\.bak does not exist/);
      return true;
    });
  });

  it("starts with no resources on an empty snapshot that has no backup", async () => {
    await writeFile(join(dataDir, "resources.json"), "");
    await herald!.start();
    assert.match(herald!.output, /empty and has no backup: starting with none/);
    assert.equal((await herald!.get(`${CONFIGMAPS}/first`)).status, 404);
  });
});

describe("durable snapshot writes", () => {
  it("fsyncs the temporary file before renaming it over the snapshot, then the directory", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "herald-fsync-"));
    const trace = join(dataDir, "..", `${dataDir.split("/").pop()}.strace`);
    const script = `
      import { pino } from "pino";
      import { ResourceStore } from "./src/control/store.js";
      import { defaultPlugins } from "./src/default-plugins.js";
      import { kindsOf } from "./src/plugins.js";
      import { validateManifest } from "./src/resources/validation.js";
      const kinds = kindsOf(defaultPlugins);
      const store = new ResourceStore({ dataDir: ${JSON.stringify(dataDir)}, kinds, logger: pino({ level: "silent" }), maxResources: 10 });
      await store.load();
      const { manifest } = validateManifest(kinds, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a" }, data: {} });
      await store.apply([manifest]);
    `;
    try {
      const code = await new Promise<number | null>((resolve) => {
        const child = spawn(
          "strace",
          [
            "-f",
            "-e",
            "trace=openat,fsync,fdatasync,rename,renameat,renameat2",
            "-o",
            trace,
            process.execPath,
            "--import",
            "tsx",
            "--input-type=module",
            "-e",
            script,
          ],
          { stdio: ["ignore", "ignore", "inherit"] },
        );
        child.on("error", () => resolve(-1));
        child.on("exit", resolve);
      });
      assert.equal(code, 0, "strace (needed by this test) ran the store");
      const lines = (await readFile(trace, "utf8")).split("\n");
      const fdOf = (pattern: RegExp, after = -1) => {
        const line = lines.findIndex((l, index) => index > after && pattern.test(l) && /= \d+$/.test(l));
        assert.ok(line >= 0, `no openat matching ${pattern}`);
        return { line, fd: /= (\d+)$/.exec(lines[line]!)![1]! };
      };
      const syncOf = (fd: string, from: number) =>
        lines.findIndex((l, index) => index > from && new RegExp(`\\bf(data)?sync\\(${fd}\\)`).test(l));
      const temporary = fdOf(/openat\(.*resources\.json\.\d+\.tmp", O_WRONLY\|O_CREAT\|O_TRUNC.*0600/);
      const renamed = lines.findIndex((l) => /rename.*resources\.json\.\d+\.tmp".*resources\.json"/.test(l));
      const tmpSync = syncOf(temporary.fd, temporary.line);
      assert.ok(
        tmpSync > temporary.line && tmpSync < renamed,
        "the temporary file is fsynced before the rename",
      );
      const directory = fdOf(new RegExp(`openat\\(.*"${dataDir}", O_RDONLY`), renamed);
      assert.ok(syncOf(directory.fd, directory.line) > directory.line, "the directory is fsynced");
    } finally {
      await rm(dataDir, { recursive: true, force: true });
      await rm(trace, { force: true });
    }
  });
});
