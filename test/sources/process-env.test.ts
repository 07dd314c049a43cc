import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { HeraldProcess } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

// Herald's own secrets, which a ProcessSource's command must never see.
const secrets = {
  HERALD_KAFKA_SASL_USERNAME: "herald",
  HERALD_KAFKA_SASL_PASSWORD: "secret-value",
  HERALD_RABBITMQ_URL: "amqp://u:p@127.0.0.1:1",
  GOOGLE_APPLICATION_CREDENTIALS: "/nonexistent/service-account.json",
};

// Posts `data` (a JavaScript expression) as one JSON event to K_SINK, then keeps running.
const script = (data: string, prelude = "") => `
${prelude}
fetch(process.env.K_SINK, {
  method: "POST",
  headers: { "ce-specversion": "1.0", "ce-id": String(process.pid), "ce-type": "dev.herald.test.process",
    "ce-source": "/process", "content-type": "application/json" },
  body: JSON.stringify(${data}),
}).then(() => setInterval(() => {}, 1000));`;

/** Whether `pid` is a live process (a zombie waiting to be reaped counts as gone). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/PID/stat: "pid (comm) state ...".
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return true;
  }
}

describe("ProcessSource environment and process group", () => {
  let herald: HeraldProcess;
  let sink: Receiver;
  const path = (name: string) =>
    `/apis/sources.herald.dev/v1alpha1/namespaces/default/processsources/${name}`;

  before(async () => {
    herald = await HeraldProcess.start({ env: secrets, args: ["--allow-process-sources"] });
    sink = await startReceiver();
  });
  after(async () => {
    await herald.close();
    await sink.close();
  });

  it("gives the command PATH, spec.env and K_SINK, and none of Herald's secrets", async () => {
    await herald.apply(`
apiVersion: sources.herald.dev/v1alpha1
kind: ProcessSource
metadata: { name: print-env }
spec:
  command: ["${process.execPath}", "-e", ${JSON.stringify(script("process.env"))}]
  env: [{ name: GREETING, value: hello }]
  ceOverrides: { extensions: { origin: local } }
  sink: { uri: "${sink.url}" }
`);
    const request = await eventually(() => sink.requests.find((r) => r.url === "/"), {
      message: "the command's environment",
    });
    const environment = JSON.parse(request.body.toString()) as Record<string, string>;

    assert.equal(environment.PATH, process.env.PATH);
    assert.equal(environment.GREETING, "hello");
    assert.equal(environment.K_SINK, sink.url);
    assert.deepEqual(JSON.parse(environment.K_CE_OVERRIDES!), { extensions: { origin: "local" } });
    for (const name of [...Object.keys(secrets), "HERALD_LOG_LEVEL"]) {
      assert.equal(environment[name], undefined, `${name} reached the command`);
    }
    for (const [name, value] of Object.entries(environment)) {
      assert.ok(!value.includes("secret-value") && !value.includes("u:p@"), `${name} carries a secret`);
    }
    const allowed = new Set(["PATH", "HOME", "LANG", "TZ", "GREETING", "K_SINK", "K_CE_OVERRIDES"]);
    assert.deepEqual(
      Object.keys(environment).filter((name) => !allowed.has(name)),
      [],
      "variables beyond the allow-list, spec.env and K_",
    );
    assert.equal(await herald.delete(path("print-env")), 200);
  });

  it("stops the whole process group when the source is deleted, including what the command started", async () => {
    // The command starts a grandchild that ignores SIGTERM, and reports both pids.
    const prelude = `
const grandchild = require("node:child_process").spawn(process.execPath,
  ["-e", "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"], { stdio: "ignore" });`;
    await herald.apply(`
apiVersion: sources.herald.dev/v1alpha1
kind: ProcessSource
metadata: { name: with-grandchild }
spec:
  command: ["${process.execPath}", "-e", ${JSON.stringify(
    script("{ command: process.pid, grandchild: grandchild.pid }", prelude),
  )}]
  sink: { uri: "${sink.url}" }
`);
    const request = await eventually(
      () => sink.requests.find((r) => (JSON.parse(r.body.toString()) as { grandchild?: number }).grandchild),
      { message: "the command to report its pids" },
    );
    const { command, grandchild } = JSON.parse(request.body.toString()) as {
      command: number;
      grandchild: number;
    };
    assert.ok(isRunning(command) && isRunning(grandchild));

    assert.equal(await herald.delete(path("with-grandchild")), 200);
    await eventually(() => !isRunning(command) && !isRunning(grandchild), {
      message: "the command and its grandchild to have exited",
    });
  });
});
