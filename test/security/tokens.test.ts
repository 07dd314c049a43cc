import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { hostOfHeader, isLoopbackHost, normalizeHost } from "../../src/auth/hosts.js";
import { roleOfClaims } from "../../src/auth/oidc.js";
import { roleAllows } from "../../src/auth/roles.js";
import {
  addToken,
  hashToken,
  parseTokenFile,
  readTokenFile,
  removeToken,
  TokenFileError,
} from "../../src/auth/token-file.js";
import { TokenStore } from "../../src/auth/tokens.js";
import { ConfigError, loadConfig } from "../../src/config.js";
import { SelfAddresses } from "../../src/control/self-addresses.js";
import { eventually } from "../support/eventually.js";

describe("token file", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "herald-tokens-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("creates the file readable by its owner only, storing the token's SHA-256 and never the token", async () => {
    const path = join(dir, "created.yaml");
    const token = await addToken(path, "ci", "write");
    assert.match(token, /^hrld_[A-Za-z0-9_-]{43}$/);
    const text = await readFile(path, "utf8");
    assert.ok(!text.includes(token), "the token itself is not in the file");
    assert.ok(text.includes(hashToken(token)));
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(await readTokenFile(path), [{ name: "ci", role: "write", hash: hashToken(token) }]);
  });

  it("adds to a YAML file keeping its comments, and to a JSON file keeping JSON", async () => {
    const yamlPath = join(dir, "kept.yaml");
    await writeFile(yamlPath, "# who may call the API\ntokens: []\n");
    await addToken(yamlPath, "alice", "admin");
    assert.match(await readFile(yamlPath, "utf8"), /^# who may call the API/);
    const jsonPath = join(dir, "kept.json");
    await writeFile(jsonPath, '{ "tokens": [] }');
    await addToken(jsonPath, "bob", "read");
    const parsed = JSON.parse(await readFile(jsonPath, "utf8")) as { tokens: { name: string }[] };
    assert.deepEqual(
      parsed.tokens.map((entry) => entry.name),
      ["bob"],
    );
  });

  it("refuses a second token of the same name, and deletes by name", async () => {
    const path = join(dir, "names.yaml");
    await addToken(path, "ops", "admin");
    await assert.rejects(addToken(path, "ops", "read"), /a token named ops exists already/);
    assert.equal(await removeToken(path, "ops"), true);
    assert.equal(await removeToken(path, "ops"), false);
    assert.deepEqual(await readTokenFile(path), []);
  });

  it("names every problem of an invalid file by its path, and a plain token is refused", () => {
    const text = `tokens:
  - name: ci
    role: owner
    hash: sha256:abc
  - name: plain
    role: read
    token: hrld_secret
`;
    assert.throws(
      () => parseTokenFile(text, "t.yaml"),
      (error: unknown) => {
        assert.ok(error instanceof TokenFileError);
        assert.match(error.message, /^token file t\.yaml: /);
        assert.match(error.message, /tokens\[0\]\.role: must be one of "read", "write", "admin"/);
        assert.match(error.message, /tokens\[1\]\.token: unknown field/);
        assert.match(error.message, /tokens\[0\]\.hash: must be "sha256:"/);
        assert.match(error.message, /tokens\[1\]/);
        assert.ok(!error.message.includes("hrld_secret"), "the file's secret is not repeated");
        return true;
      },
    );
  });

  it("reloads a changed file, and keeps the previous tokens when the change makes it invalid", async () => {
    const path = join(dir, "reloaded.yaml");
    const first = await addToken(path, "first", "read");
    const lines: string[] = [];
    const logger = pino(
      { level: "info" },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
    const store = await TokenStore.open(path, logger, 50);
    try {
      assert.deepEqual(store.verify(first), { name: "first", role: "read", via: "token" });
      const second = await addToken(path, "second", "admin");
      await eventually(() => store.verify(second), { message: "the added token" });
      await writeFile(path, "tokens: [ { name: broken");
      await eventually(() => lines.some((line) => line.includes("token file not reloaded")), {
        message: "the invalid file to be logged",
      });
      assert.equal(store.verify(first)?.name, "first");
      assert.equal(store.verify(second)?.role, "admin");
      assert.ok(!lines.join("").includes(first), "no token in the logs");
    } finally {
      store.close();
    }
  });

  it("refuses a missing file at start, saying how to create one", async () => {
    await assert.rejects(readTokenFile(join(dir, "none.yaml")), /herald token create NAME --role admin/);
  });
});

describe("roles and OIDC role claims", () => {
  it("orders read < write < admin", () => {
    assert.ok(roleAllows("admin", "write") && roleAllows("write", "read") && roleAllows("read", "read"));
    assert.ok(!roleAllows("read", "write") && !roleAllows("write", "admin"));
  });

  it("takes the highest role of a string or list claim, at a dotted path, through the map when one is set", () => {
    const direct = { roleClaim: "herald_role", roleMap: {} };
    assert.equal(roleOfClaims({ herald_role: "write" }, direct), "write");
    assert.equal(roleOfClaims({ herald_role: ["read", "admin"] }, direct), "admin");
    assert.equal(roleOfClaims({ herald_role: "owner" }, direct), undefined);
    assert.equal(roleOfClaims({}, direct), undefined);
    const mapped = { roleClaim: "realm_access.roles", roleMap: { "herald-devs": "write" as const } };
    assert.equal(roleOfClaims({ realm_access: { roles: ["herald-devs", "other"] } }, mapped), "write");
    // With a map, only mapped values count: a group that happens to be called "admin" grants nothing.
    assert.equal(roleOfClaims({ realm_access: { roles: ["admin"] } }, mapped), undefined);
    assert.equal(roleOfClaims({ constructor: "admin" }, { roleClaim: "constructor", roleMap: {} }), "admin");
    assert.equal(roleOfClaims({}, { roleClaim: "constructor", roleMap: {} }), undefined);
  });
});

describe("hosts", () => {
  it("normalizes hosts and recognizes loopback in its spellings", () => {
    assert.equal(normalizeHost("[::1]"), "::1");
    assert.equal(normalizeHost("LocalHost."), "localhost");
    assert.equal(normalizeHost("[::ffff:7f00:1]"), "127.0.0.1");
    assert.equal(hostOfHeader("[::1]:8080"), "::1");
    assert.equal(hostOfHeader("Example.COM:80"), "example.com");
    for (const host of ["localhost", "127.0.0.1", "127.1.2.3", "[::1]", "api.localhost"])
      assert.ok(isLoopbackHost(host), host);
    for (const host of ["0.0.0.0", "10.0.0.1", "evil.example", "localhost.evil.example"])
      assert.ok(!isLoopbackHost(host), host);
  });

  it("finds Herald's own API behind every spelling of its address, and only there", () => {
    const shared = new SelfAddresses([{ host: "127.0.0.1", port: 8080, serves: "both" }], {
      publicUrl: "https://herald.example.com",
    });
    for (const url of [
      "http://127.0.0.1:8080/apis/x",
      "http://localhost:8080/apply",
      "http://[::1]:8080/api/v1/secrets",
      "http://2130706433:8080/apis",
      "http://0x7f.1:8080/apis",
      "http://[::ffff:127.0.0.1]:8080/apis",
      "http://0.0.0.0:8080/metrics",
      "http://127.0.0.1:8080/channels/../apis/x",
      "https://herald.example.com/apis/x",
    ])
      assert.ok(shared.reachesApi(new URL(url)), url);
    for (const url of [
      "http://127.0.0.1:8080/channels/default/orders",
      "http://127.0.0.1:8081/apis/x",
      "http://10.1.2.3:8080/apis/x",
      "https://herald.example.com/brokers/default/b",
      "https://other.example.com/apis",
    ])
      assert.ok(!shared.reachesApi(new URL(url)), url);

    const separate = new SelfAddresses(
      [
        { host: "0.0.0.0", port: 8080, serves: "ingress" },
        { host: "127.0.0.1", port: 8081, serves: "api" },
      ],
      { publicUrl: "http://localhost:8080", names: ["herald.internal"] },
    );
    assert.ok(separate.reachesApi(new URL("http://127.0.0.1:8081/channels/default/x")));
    assert.ok(separate.reachesApi(new URL("http://herald.internal:8081/")));
    assert.ok(
      !separate.reachesApi(new URL("http://127.0.0.1:8080/apis/x")),
      "the ingress port serves no API",
    );
  });
});

describe("secure-default configuration", () => {
  it("refuses a resource API on a non-loopback address without authentication, saying how to fix it", () => {
    for (const [flags, setting] of [
      [{ host: "0.0.0.0" }, "host (HERALD_HOST)"],
      [{ host: "192.0.2.10" }, "host (HERALD_HOST)"],
      [{ apiPort: 9000, apiHost: "0.0.0.0" }, "apiHost (HERALD_API_HOST)"],
    ] as const)
      assert.throws(
        () => loadConfig(flags, {}),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.message.includes(setting) &&
          /herald token create/.test(error.message) &&
          /HERALD_TOKEN_FILE/.test(error.message) &&
          /--api-port/.test(error.message),
      );
  });

  it("accepts it with a token file or an OIDC issuer, or with the API alone on loopback", () => {
    assert.doesNotThrow(() => loadConfig({ host: "0.0.0.0", tokenFile: "/etc/herald/tokens.yaml" }, {}));
    assert.doesNotThrow(() =>
      loadConfig(
        {},
        { HERALD_HOST: "0.0.0.0", HERALD_OIDC_ISSUER: "https://id.example", HERALD_OIDC_AUDIENCE: "herald" },
      ),
    );
    assert.doesNotThrow(() => loadConfig({ host: "0.0.0.0", apiPort: 8081 }, {}));
  });

  it("wants an audience and https for OIDC, and headers no slower than the whole request", () => {
    assert.throws(() => loadConfig({}, { HERALD_OIDC_ISSUER: "https://id.example" }), /oidc\.audience/);
    assert.throws(
      () => loadConfig({}, { HERALD_OIDC_ISSUER: "http://id.example", HERALD_OIDC_AUDIENCE: "h" }),
      /oidc\.issuer \(HERALD_OIDC_ISSUER\): must be an https URL/,
    );
    assert.throws(
      () => loadConfig({}, { HERALD_OIDC_ROLE_MAP: "devs=owner" }),
      /oidc\.roleMap.*claim-value=role/,
    );
    assert.throws(
      () => loadConfig({}, { HERALD_HEADERS_TIMEOUT_MS: "40000", HERALD_REQUEST_TIMEOUT_MS: "30000" }),
      /headersTimeoutMs \(HERALD_HEADERS_TIMEOUT_MS\)/,
    );
  });
});
