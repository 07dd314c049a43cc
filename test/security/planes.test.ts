import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { HeraldProcess, InProcessHerald, postEvent } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";
import { runCli, type CliRun } from "../support/cli.js";

const channel = (name: string) =>
  `apiVersion: messaging.knative.dev/v1\nkind: Channel\nmetadata: { name: ${name} }\n`;
const subscription = (name: string, channelName: string, destinations: string) => `
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: ${name} }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: ${channelName} }
${destinations}
`;

function cli(args: string[]): Promise<CliRun> {
  return runCli(args, { env: { PATH: process.env.PATH ?? "", HOME: "/nonexistent" } });
}

describe("secure default", () => {
  it("refuses to start with the resource API on a non-loopback address and no authentication", async () => {
    await assert.rejects(HeraldProcess.start({ args: ["--host", "0.0.0.0"] }), (error: Error) => {
      assert.match(error.message, /herald exited with 2 during start/);
      assert.match(
        error.message,
        /host \(HERALD_HOST\): the resource API would listen on 0\.0\.0\.0 without authentication/,
      );
      assert.match(error.message, /herald token create NAME --role admin --token-file FILE/);
      assert.match(error.message, /--api-port PORT/);
      return true;
    });
  });
});

describe("the resource API on its own port", () => {
  let herald: InProcessHerald;
  let receiver: Receiver;
  before(async () => {
    receiver = await startReceiver();
    herald = await InProcessHerald.start({ config: { apiPort: 0 } });
    await herald.apply(
      channel("orders") +
        "---" +
        subscription("orders-display", "orders", `  subscriber: { uri: "${receiver.url}" }`),
    );
  });
  after(async () => {
    await herald.close();
    await receiver.close();
  });

  it("serves only ingress, source webhooks, /healthz and /readyz on the main port", async () => {
    assert.notEqual(herald.apiUrl, herald.url);
    for (const [method, path] of [
      ["GET", "/apis"],
      ["GET", "/api/v1/secrets"],
      ["GET", "/apis/messaging.knative.dev/v1/namespaces/default/channels"],
      ["POST", "/apply"],
      ["GET", "/metrics"],
    ] as const) {
      const response = await fetch(`${herald.url}${path}`, {
        method,
        headers: { "content-type": "application/yaml" },
        body: method === "POST" ? channel("via-ingress-port") : undefined,
      });
      assert.equal(response.status, 404, `${method} ${path}`);
      assert.equal(((await response.json()) as { code: string }).code, "NotFound");
    }
    assert.equal((await fetch(`${herald.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${herald.url}/readyz`)).status, 200);
    assert.equal(
      (await herald.get("/apis/messaging.knative.dev/v1/namespaces/default/channels/via-ingress-port"))
        .status,
      404,
    );
  });

  it("takes events on the main port, addressed as status.address.url says, and none on the API port", async () => {
    const { body } = await herald.get<{ status: { address: { url: string } } }>(
      "/apis/messaging.knative.dev/v1/namespaces/default/channels/orders",
    );
    assert.equal(body.status.address.url, herald.channelUrl("orders"));
    assert.ok(body.status.address.url.startsWith(herald.url));
    assert.equal(await postEvent(herald.channelUrl("orders"), { id: "on-ingress" }), 202);
    assert.equal(await postEvent(`${herald.apiUrl}/channels/default/orders`, { id: "on-api" }), 404);
    await eventually(() => receiver.requests.some((r) => r.headers["ce-id"] === "on-ingress"));
    assert.equal((await fetch(`${herald.apiUrl}/metrics`)).status, 200);
  });

  it("lets the CLI send to a channel through the address the API reports", async () => {
    const sent = await cli(["--server", herald.apiUrl, "send", "orders", "--type", "t", "--id", "from-cli"]);
    assert.equal(sent.code, 0, sent.stderr);
    await eventually(() => receiver.requests.some((r) => r.headers["ce-id"] === "from-cli"));
  });

  it("refuses a destination at the API port, whatever its path", async () => {
    const text = await herald.applyRejected(
      subscription(
        "to-api-port",
        "orders",
        `  subscriber: { uri: "${herald.apiUrl}/channels/default/orders" }`,
      ),
    );
    assert.match(
      text,
      /spec\.subscriber\.uri: http:\/\/127\.0\.0\.1:\d+\/channels\/default\/orders is this Herald's own resource API/,
    );
  });
});

describe("destinations that point at Herald's own resource API (H2)", () => {
  let herald: InProcessHerald;
  before(async () => {
    herald = await InProcessHerald.start();
    await herald.apply(channel("ssrf"));
  });
  after(async () => {
    await herald.close();
  });

  it("refuses a subscription aimed at Herald's own API (SSRF) at apply, naming the field", async () => {
    const text = await herald.applyRejected(
      subscription(
        "ssrf-to-api",
        "ssrf",
        `  subscriber: { uri: "${herald.url}/apis/sources.herald.dev/v1alpha1/namespaces/default/processsources" }`,
      ),
    );
    assert.match(
      text,
      /spec\.subscriber\.uri: http:\/\/127\.0\.0\.1:\d+\/apis\/sources\.herald\.dev\/v1alpha1\/namespaces\/default\/processsources is this Herald's own resource API: events sent there would become API calls/,
    );
    assert.equal(
      (await herald.get("/apis/messaging.knative.dev/v1/namespaces/default/subscriptions/ssrf-to-api"))
        .status,
      404,
    );
  });

  it("refuses every destination field and spelling of its address, and lists each problem", async () => {
    const port = new URL(herald.url).port;
    const text = await herald.applyRejected(
      [
        subscription(
          "reply-to-api",
          "ssrf",
          `  subscriber: { uri: "${herald.url}/channels/default/ssrf" }\n  reply: { uri: "http://localhost:${port}/apply" }`,
        ),
        subscription(
          "dls-to-api",
          "ssrf",
          `  subscriber: { ref: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: ssrf }, uri: "../../../apis/x" }\n  delivery:\n    deadLetterSink: { uri: "http://2130706433:${port}/api/v1/namespaces/default/secrets" }`,
        ),
        `apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: trigger-to-api }
spec:
  broker: default
  subscriber: { uri: "http://[::1]:${port}/apis/eventing.knative.dev/v1/namespaces/default/triggers" }
`,
        `apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: { name: ping-to-api }
spec:
  schedule: "* * * * *"
  sink: { uri: "http://0.0.0.0:${port}/metrics" }
`,
      ].join("---\n"),
    );
    for (const path of [
      /\[0\]\.spec\.reply\.uri/,
      /\[1\]\.spec\.subscriber\.uri/,
      /\[1\]\.spec\.delivery\.deadLetterSink\.uri/,
      /\[2\]\.spec\.subscriber\.uri/,
      /\[3\]\.spec\.sink\.uri/,
    ])
      assert.match(text, path);
    assert.doesNotMatch(text, /\[0\]\.spec\.subscriber/, "its own channel's address is a fine subscriber");
  });

  it("accepts its own channel and broker addresses and other services", async () => {
    await herald.apply(
      subscription(
        "loop-back-to-ingress",
        "ssrf",
        `  subscriber: { uri: "${herald.url}/channels/default/ssrf" }\n  delivery:\n    deadLetterSink: { uri: "http://127.0.0.1:1/apis/elsewhere" }`,
      ),
    );
  });
});

describe("slow clients (L14)", () => {
  let herald: InProcessHerald;
  before(async () => {
    herald = await InProcessHerald.start({
      config: { apiPort: 0, headersTimeoutMs: 500, requestTimeoutMs: 1_000 },
    });
  });
  after(async () => {
    await herald.close();
  });

  /** Opens a connection that sends half a request and never the rest; resolves with what the server answered. */
  const slowloris = (url: string) =>
    new Promise<string>((resolve, reject) => {
      const { hostname, port } = new URL(url);
      const socket = connect(Number(port), hostname, () => {
        socket.write(`POST /channels/default/x HTTP/1.1\r\nHost: ${hostname}\r\nce-id: `);
      });
      let answer = "";
      socket.on("data", (chunk: Buffer) => (answer += chunk.toString()));
      socket.on("close", () => resolve(answer));
      socket.on("error", reject);
    });

  it(
    "answers 408 and closes a connection whose headers do not arrive in time, on both ports",
    { timeout: 30_000 },
    async () => {
      const [ingress, api] = await Promise.all([slowloris(herald.url), slowloris(herald.apiUrl)]);
      assert.match(ingress, /^HTTP\/1\.1 408/);
      assert.match(api, /^HTTP\/1\.1 408/);
      assert.equal((await fetch(`${herald.url}/healthz`)).status, 200);
    },
  );
});
