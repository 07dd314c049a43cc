import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { runCli, type CliRun } from "../support/cli.js";
import { InProcessHerald } from "../support/herald.js";

function herald(server: string, args: string[]): Promise<CliRun> {
  return runCli(["--server", server, ...args]);
}

describe('listing core kinds (group "")', () => {
  let server: InProcessHerald;
  before(async () => {
    server = await InProcessHerald.start();
    await server.apply(`apiVersion: v1
kind: Secret
metadata: { name: listed-secret }
data: { token: ${Buffer.from("s3cr3t").toString("base64")} }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: listed-config, namespace: other }
data: { a: b }
`);
  });
  after(() => server.close());

  it("lists Secrets and ConfigMaps across namespaces and in one namespace", async () => {
    const names = (body: { items: { metadata: { name: string } }[] }) =>
      body.items.map((i) => i.metadata.name);
    type List = { items: { metadata: { name: string } }[] };
    assert.deepEqual(names((await server.get<List>("/api/v1/secrets")).body), ["listed-secret"]);
    assert.deepEqual(names((await server.get<List>("/api/v1/namespaces/default/secrets")).body), [
      "listed-secret",
    ]);
    assert.deepEqual(names((await server.get<List>("/api/v1/configmaps")).body), ["listed-config"]);
    assert.deepEqual(names((await server.get<List>("/api/v1/namespaces/other/configmaps")).body), [
      "listed-config",
    ]);
    assert.deepEqual(names((await server.get<List>("/api/v1/namespaces/default/configmaps")).body), []);
  });

  it("`herald get secrets` and `herald get configmaps -A` show them", async () => {
    const secrets = await herald(server.url, ["get", "secrets"]);
    assert.equal(secrets.code, 0, secrets.stderr);
    assert.match(secrets.stdout, /listed-secret/);
    const configMaps = await herald(server.url, ["get", "configmaps", "-A"]);
    assert.equal(configMaps.code, 0, configMaps.stderr);
    assert.match(configMaps.stdout, /listed-config/);
  });
});
