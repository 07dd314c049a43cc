import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { addToken, removeToken } from "../../src/auth/token-file.js";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";
import { runCli, type CliRun } from "../support/cli.js";

const PROCESS_SOURCES = "/apis/sources.herald.dev/v1alpha1/namespaces/default/processsources";
const CHANNELS = "/apis/messaging.knative.dev/v1/namespaces/default/channels";
const SECRETS = "/api/v1/namespaces/default/secrets";

/** A ProcessSource that runs a command as Herald's user. */
const processSource = (name: string) => ({
  metadata: { name },
  spec: {
    command: [process.execPath, "-e", "setTimeout(() => {}, 60000)"],
    sink: { uri: "http://127.0.0.1:1/" },
  },
});

async function call(
  url: string,
  options: { method?: string; token?: string; body?: unknown; type?: string } = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers["content-type"] = options.type ?? "application/json";
  const response = await fetch(url, {
    method: options.method ?? "GET",
    headers,
    body:
      options.body === undefined
        ? undefined
        : typeof options.body === "string"
          ? options.body
          : JSON.stringify(options.body),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: (response.headers.get("content-type")?.includes("json") ? JSON.parse(text) : { text }) as Record<
      string,
      unknown
    >,
  };
}

function cli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runCli(args, { env: { PATH: process.env.PATH ?? "", HOME: "/nonexistent", ...env } });
}

describe("resource API authentication with bearer tokens", () => {
  let dir: string;
  let tokenFile: string;
  let herald: InProcessHerald;
  const tokens = { read: "", write: "", admin: "" };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "herald-auth-"));
    tokenFile = join(dir, "tokens.yaml");
    tokens.read = await addToken(tokenFile, "viewer", "read");
    tokens.write = await addToken(tokenFile, "ci", "write");
    tokens.admin = await addToken(tokenFile, "ops", "admin");
    herald = await InProcessHerald.start({ config: { tokenFile, allowProcessSources: true } });
    herald.token = tokens.admin;
  });
  after(async () => {
    await herald.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("answers the unauthenticated ProcessSource of C1 with 401, and creates nothing", async () => {
    const refused = await call(`${herald.apiUrl}${PROCESS_SOURCES}`, {
      method: "POST",
      body: processSource("pwn"),
    });
    assert.equal(refused.status, 401);
    assert.equal(refused.body.code, "Unauthorized");
    assert.match(String(refused.body.message), /Authorization: Bearer/);
    assert.equal(refused.headers.get("www-authenticate"), 'Bearer realm="herald"');
    const applied = await call(`${herald.apiUrl}/apply`, {
      method: "POST",
      type: "application/yaml",
      body: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {a: b}\n",
    });
    assert.equal(applied.status, 401);
    assert.equal((await herald.get(`${PROCESS_SOURCES}/pwn`)).status, 404);
    assert.equal((await herald.get("/api/v1/namespaces/default/configmaps/cm")).status, 404);
  });

  it("answers an unknown, deleted, or malformed token with 401, and never repeats it", async () => {
    for (const authorization of [
      "Bearer hrld_not-a-token",
      "Bearer not-even-herald",
      "Basic b3BzOm9wcw==",
      "Bearer",
    ]) {
      const response = await fetch(`${herald.apiUrl}${CHANNELS}`, { headers: { authorization } });
      const body = (await response.json()) as { code: string; message: string };
      assert.equal(response.status, 401, authorization);
      assert.equal(body.code, "Unauthorized");
      assert.ok(!body.message.includes("hrld_not-a-token"));
    }
  });

  it("lets read list and get, and answers its writes with 403 naming the role needed", async () => {
    assert.equal((await call(`${herald.apiUrl}${CHANNELS}`, { token: tokens.read })).status, 200);
    assert.equal((await call(`${herald.apiUrl}/apis`, { token: tokens.read })).status, 200);
    const created = await call(`${herald.apiUrl}${CHANNELS}`, {
      method: "POST",
      token: tokens.read,
      body: { metadata: { name: "by-viewer" } },
    });
    assert.equal(created.status, 403);
    assert.equal(created.body.code, "Forbidden");
    assert.match(
      String(created.body.message),
      /token viewer has the role read; creating resources needs write/,
    );
    const deleted = await call(`${herald.apiUrl}${CHANNELS}/anything`, {
      method: "DELETE",
      token: tokens.read,
    });
    assert.equal(deleted.status, 403);
  });

  it("lets write apply and delete, but a ProcessSource (commands on Herald's host) needs admin", async () => {
    const put = await call(`${herald.apiUrl}${CHANNELS}/by-ci`, {
      method: "PUT",
      token: tokens.write,
      body: {},
    });
    assert.equal(put.status, 201);
    const deleted = await call(`${herald.apiUrl}${CHANNELS}/by-ci`, {
      method: "DELETE",
      token: tokens.write,
    });
    assert.equal(deleted.status, 200);

    const posted = await call(`${herald.apiUrl}${PROCESS_SOURCES}`, {
      method: "POST",
      token: tokens.write,
      body: processSource("by-ci"),
    });
    assert.equal(posted.status, 403);
    assert.match(String(posted.body.message), /ProcessSource .*needs admin/);
    const applied = await call(`${herald.apiUrl}/apply`, {
      method: "POST",
      token: tokens.write,
      type: "application/yaml",
      body: `apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: harmless }
---
apiVersion: sources.herald.dev/v1alpha1
kind: ProcessSource
metadata: { name: hidden }
spec: { command: ["/bin/true"], sink: { uri: "http://127.0.0.1:1/" } }
`,
    });
    assert.equal(applied.status, 403);
    assert.equal(
      (await herald.get(`${CHANNELS}/harmless`)).status,
      404,
      "nothing of the refused apply is applied",
    );

    const byAdmin = await call(`${herald.apiUrl}${PROCESS_SOURCES}`, {
      method: "POST",
      token: tokens.admin,
      body: processSource("by-ops"),
    });
    assert.equal(byAdmin.status, 201);
    assert.equal(await herald.delete(`${PROCESS_SOURCES}/by-ops`), 200);
  });

  it("keeps /healthz and /readyz open and /metrics for read", async () => {
    assert.equal((await call(`${herald.apiUrl}/healthz`)).status, 200);
    assert.equal((await call(`${herald.apiUrl}/readyz`)).status, 200);
    assert.equal((await call(`${herald.apiUrl}/metrics`)).status, 401);
    const metrics = await call(`${herald.apiUrl}/metrics`, { token: tokens.read });
    assert.equal(metrics.status, 200);
    assert.match(String(metrics.body.text), /herald_reconcile_passes_total/);
  });

  it("redacts Secret data for read and write, and shows it to admin", async () => {
    const value = Buffer.from("s3cr3t-hmac").toString("base64");
    const created = await call(`${herald.apiUrl}${SECRETS}`, {
      method: "POST",
      token: tokens.write,
      body: { metadata: { name: "gh" }, data: { token: value } },
    });
    assert.equal(created.status, 201);
    assert.ok(!JSON.stringify(created.body).includes(value), "the write's answer redacts too");
    for (const token of [tokens.read, tokens.write]) {
      const one = await call(`${herald.apiUrl}${SECRETS}/gh`, { token });
      assert.equal(one.status, 200);
      assert.deepEqual(one.body.data, { token: "[redacted]" });
      const list = await call(`${herald.apiUrl}${SECRETS}`, { token });
      assert.ok(!JSON.stringify(list.body).includes(value));
      assert.ok(JSON.stringify(list.body).includes("[redacted]"));
      const across = await call(`${herald.apiUrl}/api/v1/secrets`, { token });
      assert.ok(!JSON.stringify(across.body).includes(value));
    }
    const admin = await call(`${herald.apiUrl}${SECRETS}/gh`, { token: tokens.admin });
    assert.deepEqual(admin.body.data, { token: value });
  });

  it("takes tokens added to and removed from the file without a restart", async () => {
    const added = await addToken(tokenFile, "late", "read");
    await eventually(
      async () => (await call(`${herald.apiUrl}${CHANNELS}`, { token: added })).status === 200,
      {
        message: "the added token to be accepted",
      },
    );
    await removeToken(tokenFile, "late");
    await eventually(
      async () => (await call(`${herald.apiUrl}${CHANNELS}`, { token: added })).status === 401,
      {
        message: "the removed token to be refused",
      },
    );
  });
});

describe("the CLI's token", () => {
  let dir: string;
  let tokenFile: string;
  let herald: InProcessHerald;
  let admin: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "herald-cli-auth-"));
    tokenFile = join(dir, "tokens.json");
    admin = await addToken(tokenFile, "ops", "admin");
    herald = await InProcessHerald.start({ config: { tokenFile } });
    herald.token = admin;
    await herald.apply(
      `apiVersion: v1\nkind: Secret\nmetadata: { name: db }\ndata: { password: ${Buffer.from("hunter2").toString("base64")} }\n`,
    );
  });
  after(async () => {
    await herald.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("creates a token printed once, and sends it from --token, HERALD_TOKEN or a config file context", async () => {
    const created = await cli(["token", "create", "reader", "--role", "read"], {
      HERALD_TOKEN_FILE: tokenFile,
    });
    assert.equal(created.code, 0, created.stderr);
    const token = created.stdout.trim();
    assert.match(token, /^hrld_/);
    assert.match(created.stderr, /only its hash is stored/);

    const anonymous = await cli(["--server", herald.apiUrl, "get", "secrets"]);
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /authentication required.*\(HTTP 401\)/);

    await eventually(async () => (await call(`${herald.apiUrl}${SECRETS}`, { token })).status === 200, {
      message: "the new token to be accepted",
    });
    const withFlag = await cli([
      "--server",
      herald.apiUrl,
      "--token",
      token,
      "get",
      "secret",
      "db",
      "-o",
      "yaml",
    ]);
    assert.equal(withFlag.code, 0, withFlag.stderr);
    assert.match(withFlag.stdout, /password: "\[redacted\]"|password: \[redacted\]/);
    assert.ok(!withFlag.stdout.includes(Buffer.from("hunter2").toString("base64")));

    const withVariable = await cli(["get", "secrets"], { HERALD_SERVER: herald.apiUrl, HERALD_TOKEN: admin });
    assert.equal(withVariable.code, 0, withVariable.stderr);
    assert.match(withVariable.stdout, /db/);

    const config = join(dir, "config.yaml");
    await writeFile(
      config,
      `current-context: local\ncontexts:\n  - name: local\n    server: ${herald.apiUrl}\n    token: ${token}\n  - name: broken\n    server: ${herald.apiUrl}\n    token: hrld_wrong\n`,
    );
    const fromContext = await cli(["get", "secret", "db", "-o", "json"], { HERALD_CONFIG: config });
    assert.equal(fromContext.code, 0, fromContext.stderr);
    assert.deepEqual((JSON.parse(fromContext.stdout) as { data: unknown }).data, { password: "[redacted]" });
    const otherContext = await cli(["--context", "broken", "get", "secrets"], { HERALD_CONFIG: config });
    assert.equal(otherContext.code, 1);
    assert.match(otherContext.stderr, /HTTP 401/);
  });
});

describe("resource API authentication with OIDC-issued JWTs", () => {
  let issuerServer: Server;
  let issuer: string;
  let herald: InProcessHerald;
  let key: { privateKey: CryptoKey; publicKey: CryptoKey };
  let stranger: CryptoKey;
  const fetched = { discovery: 0, jwks: 0 };

  const jwt = async (
    claims: Record<string, unknown>,
    options: { audience?: string; issuer?: string; expires?: string; signer?: CryptoKey } = {},
  ) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .setSubject("alice@example.com")
      .setIssuer(options.issuer ?? issuer)
      .setAudience(options.audience ?? "herald")
      .setIssuedAt()
      .setExpirationTime(options.expires ?? "5m")
      .sign(options.signer ?? key.privateKey);

  before(async () => {
    key = await generateKeyPair("ES256");
    stranger = (await generateKeyPair("ES256")).privateKey;
    const publicJwk: JWK = { ...(await exportJWK(key.publicKey)), kid: "k1", alg: "ES256", use: "sig" };
    issuerServer = createServer((req, res) => {
      if (req.url === "/.well-known/openid-configuration") {
        fetched.discovery++;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/keys` }));
      } else if (req.url === "/keys") {
        fetched.jwks++;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ keys: [publicJwk] }));
      } else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => issuerServer.listen(0, "127.0.0.1", resolve));
    issuer = `http://127.0.0.1:${(issuerServer.address() as AddressInfo).port}`;
    herald = await InProcessHerald.start({
      env: {
        HERALD_OIDC_ISSUER: issuer,
        HERALD_OIDC_AUDIENCE: "herald",
        HERALD_OIDC_ROLE_CLAIM: "groups",
        HERALD_OIDC_ROLE_MAP: "eventing-admins=admin,eventing-devs=write,everyone=read",
      },
    });
  });
  after(async () => {
    await herald.close();
    issuerServer.close();
  });

  it("accepts a token of the issuer and maps its claim to a role, fetching the keys once", async () => {
    const developer = await jwt({ groups: ["everyone", "eventing-devs"] });
    const put = await call(`${herald.apiUrl}${CHANNELS}/by-alice`, {
      method: "PUT",
      token: developer,
      body: {},
    });
    assert.equal(put.status, 201);
    const reader = await jwt({ groups: "everyone" });
    assert.equal((await call(`${herald.apiUrl}${CHANNELS}/by-alice`, { token: reader })).status, 200);
    const refused = await call(`${herald.apiUrl}${CHANNELS}/by-alice`, { method: "DELETE", token: reader });
    assert.equal(refused.status, 403);
    assert.match(String(refused.body.message), /subject alice@example.com has the role read/);
    const admin = await jwt({ groups: ["eventing-admins"] });
    assert.equal(
      (await call(`${herald.apiUrl}${CHANNELS}/by-alice`, { method: "DELETE", token: admin })).status,
      200,
    );
    assert.deepEqual(fetched, { discovery: 1, jwks: 1 });
  });

  it("answers 401 to an expired, foreign-audience, foreign-issuer, wrongly signed or role-less token", async () => {
    const cases = {
      expired: await jwt({ groups: "eventing-admins" }, { expires: "-2m" }),
      audience: await jwt({ groups: "eventing-admins" }, { audience: "another-app" }),
      issuer: await jwt({ groups: "eventing-admins" }, { issuer: "https://evil.example" }),
      signature: await jwt({ groups: "eventing-admins" }, { signer: stranger }),
      role: await jwt({ groups: ["admin"] }),
    };
    for (const [name, token] of Object.entries(cases)) {
      const response = await call(`${herald.apiUrl}${CHANNELS}`, { token });
      assert.equal(response.status, 401, name);
      assert.equal(response.body.code, "Unauthorized", name);
    }
  });
});
