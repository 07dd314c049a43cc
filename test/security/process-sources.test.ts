import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../src/config.js";
import { eventually } from "../support/eventually.js";
import { HeraldProcess, InProcessHerald } from "../support/herald.js";

const PROCESS_SOURCES = "/apis/sources.herald.dev/v1alpha1/namespaces/default/processsources";

interface Status {
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}
const ready = (body: Status) => body.status?.conditions?.find((c) => c.type === "Ready");

/** A ProcessSource whose command leaves `marker` behind when it runs, then stays running. */
function processSource(name: string, marker: string): string {
  return `apiVersion: sources.herald.dev/v1alpha1
kind: ProcessSource
metadata: { name: ${name} }
spec:
  command: ["/bin/sh", "-c", "touch ${marker}; exec sleep 600"]
  sink: { uri: "http://127.0.0.1:1/" }
`;
}

describe("ProcessSource without --allow-process-sources", () => {
  let dir: string;
  let herald: InProcessHerald;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "herald-process-"));
    herald = await InProcessHerald.start();
  });
  after(async () => {
    await herald.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses one through the API (POST and /apply) with 422 naming the flag, and runs nothing", async () => {
    const marker = join(dir, "via-api");
    const posted = await fetch(`${herald.url}${PROCESS_SOURCES}`, {
      method: "POST",
      headers: { "content-type": "application/yaml" },
      body: processSource("via-api", marker),
    });
    const body = (await posted.json()) as { code: string; message: string };
    assert.equal(posted.status, 422, JSON.stringify(body));
    assert.equal(body.code, "InvalidResource");
    assert.match(body.message, /would run a command on Herald's host/);
    assert.match(body.message, /--allow-process-sources \(HERALD_ALLOW_PROCESS_SOURCES=true\)/);

    const text = await herald.applyRejected(
      `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: beside }\ndata: { a: b }\n---\n${processSource("via-apply", marker)}`,
    );
    assert.match(text, /\[1\]\.kind/);
    assert.equal((await herald.get(`${PROCESS_SOURCES}/via-api`)).status, 404);
    assert.equal((await herald.get("/api/v1/namespaces/default/configmaps/beside")).status, 404);
    assert.equal(existsSync(marker), false);
  });

  it("still knows the kind: it is listed, and an invalid one names its fields", async () => {
    const kinds = await herald.get<{ kinds: { kind: string }[] }>("/apis");
    assert.ok(kinds.body.kinds.some((k) => k.kind === "ProcessSource"));
    assert.equal((await herald.get(PROCESS_SOURCES)).status, 200);
    const text = await herald.applyRejected(
      "apiVersion: sources.herald.dev/v1alpha1\nkind: ProcessSource\nmetadata: { name: bad }\nspec: { sink: { uri: http://127.0.0.1:1/ } }\n",
    );
    assert.match(text, /spec\.command/);
  });

  it("reads HERALD_ALLOW_PROCESS_SOURCES, false by default", () => {
    assert.equal(loadConfig({}, {}).allowProcessSources, false);
    assert.equal(loadConfig({}, { HERALD_ALLOW_PROCESS_SOURCES: "true" }).allowProcessSources, true);
    assert.equal(loadConfig({ allowProcessSources: true }, {}).allowProcessSources, true);
    assert.throws(
      () => loadConfig({}, { HERALD_ALLOW_PROCESS_SOURCES: "yes please" }),
      /HERALD_ALLOW_PROCESS_SOURCES/,
    );
  });
});

describe("ProcessSource allowed", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "herald-process-"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("runs one from the --config folder without the flag, and one through the API with HERALD_ALLOW_PROCESS_SOURCES", async () => {
    const config = join(dir, "config");
    await mkdir(config);
    const fromFolder = join(dir, "from-folder");
    await writeFile(join(config, "process.yaml"), processSource("from-folder", fromFolder));
    const herald = await HeraldProcess.start({ args: ["--config", config] });
    try {
      await eventually(() => existsSync(fromFolder), { message: "the config folder's ProcessSource to run" });
      const refused = await herald.applyRejected(processSource("from-api", join(dir, "from-api")));
      assert.match(refused, /--allow-process-sources/);
    } finally {
      await herald.close();
    }

    const viaApi = join(dir, "via-api");
    const allowed = await InProcessHerald.start({ env: { HERALD_ALLOW_PROCESS_SOURCES: "true" } });
    try {
      await allowed.apply(processSource("via-api", viaApi));
      await eventually(() => existsSync(viaApi), { message: "the applied ProcessSource to run" });
    } finally {
      await allowed.close();
    }
  });

  it("keeps one applied with the flag but does not run it after a restart without: Ready=False, ProcessSourcesDisabled", async () => {
    const dataDir = join(dir, "data");
    const marker = join(dir, "restarted");
    let herald = await HeraldProcess.start({ dataDir, args: ["--allow-process-sources"] });
    try {
      await herald.apply(processSource("kept", marker));
      await eventually(() => existsSync(marker), { message: "the ProcessSource to run" });
    } finally {
      await herald.close();
    }
    await rm(marker);

    herald = await HeraldProcess.start({ dataDir });
    try {
      const held = await eventually(async () => {
        const { body } = await herald.get<Status>(`${PROCESS_SOURCES}/kept`);
        return ready(body)?.reason === "ProcessSourcesDisabled" && ready(body);
      });
      assert.equal(held.status, "False");
      assert.match(held.message ?? "", /--allow-process-sources/);
      // The pass that wrote this status is the one that would have started the command.
      assert.equal(existsSync(marker), false);
    } finally {
      await herald.close();
    }

    herald = await HeraldProcess.start({ dataDir, args: ["--allow-process-sources"] });
    try {
      await eventually(() => existsSync(marker), { message: "the ProcessSource to run again with the flag" });
    } finally {
      await herald.close();
    }
  });
});
