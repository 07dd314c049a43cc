import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";
import { runCli, runCliProcess, type CliRun } from "../support/cli.js";

function herald(server: string, args: string[], stdin?: string): Promise<CliRun> {
  return runCli(["--server", server, ...args], stdin === undefined ? {} : { stdin });
}

describe("herald CLI", () => {
  let server: InProcessHerald;
  let receiver: Receiver;
  let dir: string;
  before(async () => {
    server = await InProcessHerald.start();
    receiver = await startReceiver();
    dir = await mkdtemp(join(tmpdir(), "herald-cli-"));
  });
  after(async () => {
    await server.close();
    await receiver.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("applies a folder, lists, describes, sends and deletes", async () => {
    await writeFile(
      join(dir, "a-channel.yaml"),
      "apiVersion: messaging.knative.dev/v1\nkind: Channel\nmetadata: { name: cli-channel }\n",
    );
    await writeFile(
      join(dir, "b-subscription.yaml"),
      `apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: cli-sub }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: cli-channel }
  subscriber: { uri: "${receiver.url}" }
`,
    );
    const applied = await herald(server.url, ["apply", "-f", dir]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /channel\/cli-channel applied/);
    assert.match(applied.stdout, /subscription\/cli-sub applied/);

    const listed = await herald(server.url, ["get", "channels"]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /NAME\s+READY/);
    assert.match(listed.stdout, /cli-channel\s+True/);

    const yaml = await herald(server.url, ["get", "sub", "cli-sub", "-o", "yaml"]);
    assert.match(yaml.stdout, /kind: Subscription/);
    const json = await herald(server.url, ["get", "channel", "cli-channel", "-o", "json"]);
    const parsed = JSON.parse(json.stdout) as { status: { address: { url: string } } };
    assert.equal(parsed.status.address.url, server.channelUrl("cli-channel"));

    const described = await herald(server.url, ["describe", "subscription", "cli-sub"]);
    assert.match(described.stdout, /Conditions:/);
    assert.match(described.stdout, /Ready\s+True/);

    const sent = await herald(server.url, [
      "send",
      "cli-channel",
      "--type",
      "cli.test",
      "--id",
      "from-cli",
      "--data",
      '{"x":1}',
      "--extension",
      "tenant=acme corp",
    ]);
    assert.equal(sent.code, 0, sent.stderr);
    const request = await eventually(() => receiver.requests.find((r) => r.headers["ce-id"] === "from-cli"));
    assert.equal(request.headers["ce-type"], "cli.test");
    assert.equal(decodeURIComponent(String(request.headers["ce-tenant"])), "acme corp");

    const deleted = await herald(server.url, ["delete", "sub", "cli-sub"]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal((await herald(server.url, ["get", "sub", "cli-sub"])).code, 1);
  });

  it("applies from stdin", async () => {
    const applied = await herald(
      server.url,
      ["apply", "-f", "-"],
      "apiVersion: messaging.knative.dev/v1\nkind: InMemoryChannel\nmetadata: { name: from-stdin }\n",
    );
    assert.equal(applied.code, 0, applied.stderr);
    assert.equal(
      (await server.get("/apis/messaging.knative.dev/v1/namespaces/default/inmemorychannels/from-stdin"))
        .status,
      200,
    );
  });

  it("lists sources with their sink and describes them", async () => {
    const applied = await herald(
      server.url,
      ["apply", "-f", "-"],
      `apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: { name: cli-ping }
spec:
  schedule: "0 0 1 1 *"
  sink: { uri: "${receiver.url}" }
`,
    );
    assert.equal(applied.code, 0, applied.stderr);
    const listed = await eventually(async () => {
      const run = await herald(server.url, ["get", "pingsources"]);
      return run.stdout.includes("True") && run;
    });
    assert.match(listed.stdout, /NAME\s+READY\s+REASON\s+SINK/);
    assert.match(listed.stdout, new RegExp(`cli-ping\\s+True\\s+${receiver.url.replace(/[.]/g, "\\.")}`));
    const described = await herald(server.url, ["describe", "pingsource", "cli-ping"]);
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, new RegExp(`Sink:\\s+${receiver.url.replace(/[.]/g, "\\.")}`));
    assert.match(described.stdout, /SinkProvided/);
  });

  it("exits 2 naming the file and field of an invalid manifest", async () => {
    const file = join(dir, "bad.yaml");
    await writeFile(
      file,
      "apiVersion: messaging.knative.dev/v1\nkind: Subscription\nmetadata: { name: bad }\nspec:\n  delivery: { timeout: 5s }\n",
    );
    const result = await herald(server.url, ["apply", "-f", file]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /spec\.delivery\.timeout: not an ISO-8601 duration/);
    assert.match(result.stderr, /spec\.channel: is required/);
  });

  it("exits 2 for an unknown kind and a bad flag, 1 for a missing resource, 3 when the server is unreachable", async () => {
    assert.equal((await herald(server.url, ["get", "gizmos"])).code, 2);
    assert.equal((await herald(server.url, ["get", "--bogus"])).code, 2);
    const missing = await herald(server.url, ["describe", "channel", "nope"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /not found/);
    const unreachable = await herald("http://127.0.0.1:9", ["get", "channels"]);
    assert.equal(unreachable.code, 3);
    assert.match(unreachable.stderr, /cannot reach Herald/);
  });

  it("runs as a process of its own, exiting with the command's code", async () => {
    const missing = await runCliProcess(["--server", server.url, "describe", "channel", "nope"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /not found/);
  });
});
