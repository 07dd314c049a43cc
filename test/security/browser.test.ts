import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, before, describe, it } from "node:test";
import { InProcessHerald } from "../support/herald.js";

const PROCESS_SOURCES = "/apis/sources.herald.dev/v1alpha1/namespaces/default/processsources";
const CHANNELS = "/apis/messaging.knative.dev/v1/namespaces/default/channels";

/**
 * A raw HTTP request, so that Host can be set as a rebinding browser sends it (fetch does not let
 * a caller choose Host). Resolves with the status, headers and body text.
 */
function send(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      url,
      { method: options.method ?? "GET", headers: options.headers },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (text += chunk));
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, text }),
        );
      },
    );
    request.on("error", reject);
    request.end(options.body);
  });
}

const pwn = JSON.stringify({
  metadata: { name: "csrf" },
  spec: { command: ["/bin/sh", "-c", "id"], sink: { uri: "http://127.0.0.1:1/" } },
});

describe("browser attacks on a loopback Herald without authentication", () => {
  let herald: InProcessHerald;
  before(async () => {
    herald = await InProcessHerald.start();
  });
  after(async () => {
    await herald.close();
  });

  it("refuses the cross-site, rebinding ProcessSource of C2 and creates nothing", async () => {
    const attack = await send(`${herald.apiUrl}${PROCESS_SOURCES}`, {
      method: "POST",
      headers: {
        origin: "https://evil.example",
        host: `rebind.evil.example:${new URL(herald.apiUrl).port}`,
        "content-type": "text/plain;charset=UTF-8",
      },
      body: pwn,
    });
    assert.equal(attack.status, 403);
    assert.equal((JSON.parse(attack.text) as { code: string }).code, "Forbidden");
    assert.equal((await herald.get(`${PROCESS_SOURCES}/csrf`)).status, 404);
  });

  it("answers a text/plain body (sent cross-site without a CORS preflight) with 415, on every write", async () => {
    for (const [method, path] of [
      ["POST", PROCESS_SOURCES],
      ["PUT", `${PROCESS_SOURCES}/csrf`],
      ["POST", "/apply"],
      ["POST", CHANNELS],
    ] as const) {
      for (const type of [
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
      ]) {
        const response = await send(`${herald.apiUrl}${path}`, {
          method,
          headers: { "content-type": type },
          body:
            path === "/apply"
              ? "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: csrf-cm}\ndata: {a: b}\n"
              : pwn,
        });
        assert.equal(response.status, 415, `${method} ${path} ${type}`);
        const body = JSON.parse(response.text) as { code: string; message: string };
        assert.equal(body.code, "UnsupportedMediaType");
        assert.match(body.message, /send application\/json or application\/yaml/);
      }
    }
    const missing = await send(`${herald.apiUrl}${CHANNELS}`, { method: "POST", body: "{}" });
    assert.equal(missing.status, 415);
    assert.equal((await herald.get(`${PROCESS_SOURCES}/csrf`)).status, 404);
    assert.equal((await herald.get("/api/v1/namespaces/default/configmaps/csrf-cm")).status, 404);
  });

  it("answers a foreign Origin with 403, even with a JSON body and a loopback Host", async () => {
    for (const origin of ["https://evil.example", "http://127.0.0.1:1", "null"]) {
      const response = await send(`${herald.apiUrl}${CHANNELS}`, {
        method: "POST",
        headers: { origin, "content-type": "application/json" },
        body: JSON.stringify({ metadata: { name: "cross-site" } }),
      });
      assert.equal(response.status, 403, origin);
      assert.match(response.text, /cross-site request.*HERALD_ALLOWED_ORIGINS/);
      assert.equal(response.headers["access-control-allow-origin"], undefined);
    }
    assert.equal((await herald.get(`${CHANNELS}/cross-site`)).status, 404);
  });

  it("answers a Host that is not its own (DNS rebinding) with 403, reads included", async () => {
    const port = new URL(herald.apiUrl).port;
    for (const host of [`rebind.evil.example:${port}`, `localhost.evil.example:${port}`]) {
      const read = await send(`${herald.apiUrl}/api/v1/secrets`, { headers: { host } });
      assert.equal(read.status, 403, host);
      assert.match(read.text, /DNS rebinding.*HERALD_ALLOWED_HOSTS/);
    }
  });

  it("answers its own names and origins: loopback names, IP addresses, the API's own origin", async () => {
    const port = new URL(herald.apiUrl).port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `localhost`]) {
      assert.equal((await send(`${herald.apiUrl}${CHANNELS}`, { headers: { host } })).status, 200, host);
    }
    const sameOrigin = await send(`${herald.apiUrl}${CHANNELS}/same-origin`, {
      method: "PUT",
      headers: { origin: `http://localhost:${port}`, "content-type": "application/yaml" },
      body: "metadata: { name: same-origin }\n",
    });
    assert.equal(sameOrigin.status, 201);
  });

  it("checks the URL path's namespace as metadata.namespace (L1): 422", async () => {
    for (const [method, path] of [
      ["POST", "/api/v1/namespaces/%2e%2e%2F%2e%2e/secrets"],
      ["POST", "/apis/messaging.knative.dev/v1/namespaces/Evil%20NS/inmemorychannels"],
      ["PUT", "/api/v1/namespaces/a.b/secrets/s2"],
      ["GET", "/api/v1/namespaces/a.b/secrets"],
      ["GET", "/api/v1/namespaces/a.b/secrets/s2"],
      ["DELETE", "/api/v1/namespaces/a.b/secrets/s2"],
    ] as const) {
      const response = await send(`${herald.apiUrl}${path}`, {
        method,
        headers: { "content-type": "application/json" },
        body:
          method === "POST" || method === "PUT"
            ? JSON.stringify({ metadata: { name: "s2" }, data: {} })
            : undefined,
      });
      assert.equal(response.status, 422, `${method} ${path}`);
      assert.match(response.text, /"path":"namespace"/);
    }
  });

  it("answers every error with a JSON body and no stack trace (L7)", async () => {
    const cases = [
      // A webhook body over --max-body-bytes, before any source checks it.
      await send(`${herald.apiUrl}/sources/default/nowhere`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "x".repeat(5 * 1024 * 1024),
      }),
      await send(`${herald.apiUrl}/sources/default/nowhere`, { method: "POST", body: "{}" }),
      await send(`${herald.apiUrl}${CHANNELS}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{not json",
      }),
      await send(`${herald.apiUrl}/apis/messaging.knative.dev/v1/namespaces/%E0%A4%A/channels`),
      await send(`${herald.apiUrl}/no/such/route`),
    ];
    assert.deepEqual(
      cases.map((response) => response.status),
      [413, 404, 400, 400, 404],
    );
    for (const response of cases) {
      assert.match(String(response.headers["content-type"]), /^application\/json/);
      const body = JSON.parse(response.text) as { code: string; message: string };
      assert.ok(body.code && body.message, response.text);
      assert.ok(!/node_modules|\n\s+at /.test(response.text), response.text);
    }
  });
});

describe("browser protections, configured", () => {
  let herald: InProcessHerald;
  before(async () => {
    herald = await InProcessHerald.start({
      env: {
        HERALD_ALLOWED_HOSTS: "herald.internal,.corp.example",
        HERALD_ALLOWED_ORIGINS: "https://console.example",
        HERALD_WEBHOOK_ALLOWED_ORIGINS: "sender.example",
      },
    });
    await herald.apply("apiVersion: messaging.knative.dev/v1\nkind: Channel\nmetadata: { name: hooks }\n");
  });
  after(async () => {
    await herald.close();
  });

  it("answers the Host names of HERALD_ALLOWED_HOSTS, and names under a .domain entry", async () => {
    for (const host of ["herald.internal:9", "api.corp.example"])
      assert.equal((await send(`${herald.apiUrl}${CHANNELS}`, { headers: { host } })).status, 200, host);
    assert.equal(
      (await send(`${herald.apiUrl}${CHANNELS}`, { headers: { host: "corp.example.evil" } })).status,
      403,
    );
  });

  it("lets an origin of HERALD_ALLOWED_ORIGINS call the API with CORS, preflight included", async () => {
    const preflight = await send(`${herald.apiUrl}${CHANNELS}`, {
      method: "OPTIONS",
      headers: {
        origin: "https://console.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers["access-control-allow-origin"], "https://console.example");
    assert.match(String(preflight.headers["access-control-allow-headers"]), /authorization/);
    const created = await send(`${herald.apiUrl}${CHANNELS}`, {
      method: "POST",
      headers: { origin: "https://console.example", "content-type": "application/json" },
      body: JSON.stringify({ metadata: { name: "from-console" } }),
    });
    assert.equal(created.status, 201);
    assert.equal(created.headers["access-control-allow-origin"], "https://console.example");
    const other = await send(`${herald.apiUrl}${CHANNELS}`, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    });
    assert.equal(other.status, 403);
  });

  it("grants the webhook handshake only to HERALD_WEBHOOK_ALLOWED_ORIGINS (L13)", async () => {
    const granted = await send(herald.channelUrl("hooks"), {
      method: "OPTIONS",
      headers: { "webhook-request-origin": "sender.example", "webhook-request-rate": "120" },
    });
    assert.equal(granted.status, 200);
    assert.equal(granted.headers["webhook-allowed-origin"], "sender.example");
    const refused = await send(herald.channelUrl("hooks"), {
      method: "OPTIONS",
      headers: { "webhook-request-origin": "evil.example", "webhook-request-rate": "999999" },
    });
    assert.equal(refused.status, 403);
    assert.equal(refused.headers["webhook-allowed-origin"], undefined);
    assert.match(refused.text, /webhook origin evil.example is not allowed/);
  });
});
