import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtemp, rename, rm } from "node:fs/promises";
import { createServer as createSecureServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connect, type PeerCertificate } from "node:tls";
import { Agent, request } from "undici";
import { ConfigError, loadConfig } from "../../src/config.js";
import { heraldCommand } from "../support/entry.js";
import { eventually } from "../support/eventually.js";
import { freePort, InProcessHerald } from "../support/herald.js";
import { startReceiver, type ReceivedRequest, type Receiver } from "../support/receiver.js";
import { createCertificateAuthority, issueCertificate, type Issued } from "../support/tls.js";

/** An https subscriber on loopback serving `certificate`; with `clientCA` it asks for a client certificate. */
async function startSecureReceiver(
  certificate: Issued,
  options: { clientCA?: string } = {},
): Promise<{ url: string; requests: ReceivedRequest[]; server: Server }> {
  const requests: ReceivedRequest[] = [];
  const server = createSecureServer(
    {
      cert: certificate.cert,
      key: certificate.key,
      ...(options.clientCA ? { ca: options.clientCA, requestCert: true, rejectUnauthorized: true } : {}),
    },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        requests.push({
          method: req.method ?? "",
          url: req.url ?? "",
          headers: req.headers,
          body: Buffer.concat(chunks),
          at: performance.now(),
        });
        res.writeHead(202).end();
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/`, requests, server };
}

/** The certificate a TLS listener presents to a client that trusts `ca`. */
async function peerCertificate(url: string, ca: string): Promise<PeerCertificate> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ca, servername: "localhost" }, () => {
      resolve(socket.getPeerCertificate());
      socket.end();
    });
    socket.once("error", reject);
  });
}

function serialOf(pem: string): string {
  return new X509Certificate(pem).serialNumber;
}

function channelWith(name: string, subscriber: Record<string, unknown>, deadLetterUri?: string): string {
  const channel = { apiVersion: "messaging.knative.dev/v1", kind: "Channel", metadata: { name } };
  const subscription = {
    apiVersion: "messaging.knative.dev/v1",
    kind: "Subscription",
    metadata: { name: `${name}-sub` },
    spec: {
      channel: { apiVersion: "messaging.knative.dev/v1", kind: "Channel", name },
      subscriber,
      ...(deadLetterUri ? { delivery: { deadLetterSink: { uri: deadLetterUri } } } : {}),
    },
  };
  return [channel, subscription].map((manifest) => JSON.stringify(manifest)).join("\n---\n");
}

describe("TLS", () => {
  let dir: string;
  let ca: Issued;
  let otherCA: Issued;
  let trusting: Agent;
  const closing: Array<() => Promise<void>> = [];

  /** Applies YAML through the https resource API; resolves with the applied resources. */
  async function apply(
    apiUrl: string,
    yaml: string,
  ): Promise<Array<{ status: { address?: { url: string } } }>> {
    const response = await request(`${apiUrl}/apply`, {
      method: "POST",
      headers: { "content-type": "application/yaml" },
      body: yaml,
      dispatcher: trusting,
    });
    const body = (await response.body.json()) as { items?: Array<{ status: { address?: { url: string } } }> };
    assert.equal(response.statusCode, 200, JSON.stringify(body));
    return body.items ?? [];
  }

  async function postEvent(url: string, id: string): Promise<number> {
    const response = await request(url, {
      method: "POST",
      headers: {
        "ce-specversion": "1.0",
        "ce-id": id,
        "ce-type": "dev.herald.test",
        "ce-source": "/tls",
        "content-type": "application/json",
      },
      body: '{"n":1}',
      dispatcher: trusting,
    });
    await response.body.dump();
    return response.statusCode;
  }

  /** A Herald in this process; `secure` serves its listeners over HTTPS with the test CA's certificate. */
  async function startHerald(
    options: { secure?: boolean; env?: Record<string, string>; config?: Record<string, unknown> } = {},
  ) {
    const tls = { certFile: join(dir, "herald.crt"), keyFile: join(dir, "herald.key") };
    const herald = await InProcessHerald.start({
      config: { ...(options.secure ? { tls } : {}), ...options.config },
      ...(options.env ? { env: options.env } : {}),
    });
    closing.push(() => herald.close());
    return herald;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "herald-tls-"));
    ca = await createCertificateAuthority(dir, "test-ca");
    otherCA = await createCertificateAuthority(dir, "other-ca");
    await issueCertificate(ca, dir, "herald", { serial: 1001 });
    trusting = new Agent({ connect: { ca: ca.cert } });
  });
  after(async () => {
    for (const close of closing.reverse()) await close();
    await trusting.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("ingress and the resource API answer over HTTPS, and addresses are https", async () => {
    const herald = await startHerald({ secure: true });
    assert.match(herald.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const sink = await startReceiver();
    closing.push(() => sink.close());
    const [channel] = await apply(herald.apiUrl, channelWith("secure-in", { uri: sink.url }));
    assert.equal(channel!.status.address?.url, `${herald.url}/channels/default/secure-in`);
    await eventually(
      async () => (await postEvent(`${herald.url}/channels/default/secure-in`, "in-1")) === 202,
      {
        message: "the channel to take events over HTTPS",
      },
    );
    await eventually(() => sink.requests.some((r) => r.headers["ce-id"] === "in-1"), {
      message: "the event at the subscriber",
    });
    // A client that does not trust the CA is refused in the handshake.
    await assert.rejects(
      request(`${herald.url}/healthz`, { dispatcher: new Agent({ connect: { ca: otherCA.cert } }) }),
      /self[- ]signed|unable to verify|certificate/i,
    );
  });

  it("the resource API's own listener serves HTTPS too", async () => {
    const herald = await startHerald({ secure: true, config: { apiPort: 0 } });
    assert.match(herald.apiUrl, /^https:\/\//);
    assert.notEqual(herald.apiUrl, herald.url);
    const certificate = await peerCertificate(herald.apiUrl, ca.cert);
    assert.equal(certificate.subject.CN, "herald");
    await apply(herald.apiUrl, channelWith("api-own", { uri: "http://127.0.0.1:9/" }));
  });

  it("delivers to an https subscriber verified with its CACerts, and dead-letters without them", async () => {
    const herald = await startHerald();
    const subscriberCertificate = await issueCertificate(ca, dir, "subscriber", { serial: 2001 });
    const subscriber = await startSecureReceiver(subscriberCertificate);
    closing.push(() => new Promise((resolve) => subscriber.server.close(() => resolve())));
    const deadLetters: Receiver = await startReceiver();
    closing.push(() => deadLetters.close());

    await apply(
      herald.apiUrl,
      channelWith("with-ca", { uri: subscriber.url, CACerts: ca.cert }, deadLetters.url),
    );
    await apply(herald.apiUrl, channelWith("without-ca", { uri: subscriber.url }, deadLetters.url));
    await eventually(async () => (await postEvent(`${herald.url}/channels/default/with-ca`, "ca-1")) === 202);
    await eventually(
      async () => (await postEvent(`${herald.url}/channels/default/without-ca`, "ca-2")) === 202,
    );

    await eventually(() => subscriber.requests.some((r) => r.headers["ce-id"] === "ca-1"), {
      message: "the event verified with CACerts at the https subscriber",
    });
    const dead = await eventually(() => deadLetters.requests.find((r) => r.headers["ce-id"] === "ca-2"), {
      message: "the unverifiable delivery in the dead-letter sink",
    });
    assert.equal(dead.headers["ce-knativeerrordest"], subscriber.url);
    const reason = Buffer.from(String(dead.headers["ce-knativeerrordata"]), "base64").toString();
    assert.match(reason, /certificate/i);
    assert.ok(!subscriber.requests.some((r) => r.headers["ce-id"] === "ca-2"));
    assert.ok(!deadLetters.requests.some((r) => r.headers["ce-id"] === "ca-1"));
  });

  it("trusts HERALD_TLS_CA_FILE and presents HERALD_TLS_CLIENT_CERT_FILE to a subscriber that asks for it", async () => {
    const client = await issueCertificate(ca, dir, "herald-client", { serial: 3001 });
    const herald = await startHerald({
      env: {
        HERALD_TLS_CA_FILE: ca.certFile,
        HERALD_TLS_CLIENT_CERT_FILE: client.certFile,
        HERALD_TLS_CLIENT_KEY_FILE: client.keyFile,
      },
    });
    const subscriber = await startSecureReceiver(await issueCertificate(ca, dir, "mtls", { serial: 3002 }), {
      clientCA: ca.cert,
    });
    closing.push(() => new Promise((resolve) => subscriber.server.close(() => resolve())));
    await apply(herald.apiUrl, channelWith("mutual", { uri: subscriber.url }));
    await eventually(
      async () => (await postEvent(`${herald.url}/channels/default/mutual`, "mtls-1")) === 202,
    );
    await eventually(() => subscriber.requests.some((r) => r.headers["ce-id"] === "mtls-1"), {
      message: "the event at the subscriber that asks for a client certificate",
    });
  });

  it("sends a source's events to an https sink verified with the sink's CACerts", async () => {
    const herald = await startHerald();
    const sink = await startSecureReceiver(await issueCertificate(ca, dir, "sink", { serial: 4001 }));
    closing.push(() => new Promise((resolve) => sink.server.close(() => resolve())));
    await apply(
      herald.apiUrl,
      JSON.stringify({
        apiVersion: "sources.knative.dev/v1",
        kind: "PingSource",
        metadata: { name: "secure-ping" },
        spec: { schedule: "* * * * * *", data: "{}", sink: { uri: sink.url, CACerts: ca.cert } },
      }),
    );
    await eventually(() => sink.requests.length >= 1, { message: "a ping event at the https sink" });
  });

  it("serves a renewed certificate once its files are replaced, without a restart", async () => {
    const renewDir = await mkdtemp(join(dir, "renew-"));
    const first = await issueCertificate(ca, renewDir, "live", { serial: 5001, commonName: "first" });
    const herald = await startHerald({
      config: { tls: { certFile: first.certFile, keyFile: first.keyFile } },
    });
    assert.equal((await peerCertificate(herald.url, ca.cert)).serialNumber, serialOf(first.cert));

    // Written beside and renamed over, as cert-manager and certbot replace them.
    const staged = await mkdtemp(join(dir, "staged-"));
    const second = await issueCertificate(ca, staged, "live", { serial: 5002, commonName: "second" });
    await rename(second.keyFile, first.keyFile);
    await rename(second.certFile, first.certFile);

    const seen = await eventually(
      async () => {
        const certificate = await peerCertificate(herald.url, ca.cert);
        return certificate.serialNumber === serialOf(second.cert) ? certificate : undefined;
      },
      { message: "the renewed certificate on the next connection" },
    );
    assert.equal(seen.subject.CN, "second");
    // Events still flow over the renewed certificate.
    const sink = await startReceiver();
    closing.push(() => sink.close());
    await apply(herald.apiUrl, channelWith("renewed", { uri: sink.url }));
    await eventually(
      async () => (await postEvent(`${herald.url}/channels/default/renewed`, "renew-1")) === 202,
    );
  });

  it("refuses a certificate without its key, and names a TLS file it cannot read", async () => {
    assert.throws(
      () => loadConfig({}, { HERALD_TLS_CERT_FILE: join(dir, "herald.crt") }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.problems.some((p) => p.startsWith("tls.keyFile (HERALD_TLS_KEY_FILE)")),
    );
    assert.throws(
      () => loadConfig({}, { HERALD_TLS_CLIENT_KEY_FILE: join(dir, "herald.key") }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.problems.some((p) => p.startsWith("tls.clientCertFile (HERALD_TLS_CLIENT_CERT_FILE)")),
    );
    const missing = join(dir, "absent.crt");
    await assert.rejects(
      InProcessHerald.start({ config: { tls: { certFile: missing, keyFile: join(dir, "herald.key") } } }),
      (error: Error) => error.message.includes(missing) && !error.message.includes("PRIVATE KEY"),
    );
    await assert.rejects(
      InProcessHerald.start({ config: { tls: { certFile: ca.certFile, keyFile: join(dir, "herald.key") } } }),
      /do not load/,
    );
  });
});

describe("herald serve --tls-cert --tls-key", () => {
  it("serves HTTPS from the command line", async () => {
    const dir = await mkdtemp(join(tmpdir(), "herald-tls-cli-"));
    const ca = await createCertificateAuthority(dir, "cli-ca");
    const certificate = await issueCertificate(ca, dir, "cli", { serial: 6001 });
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        ...heraldCommand("serve", "--port", String(port), "--data-dir", dir),
        ...["--tls-cert", certificate.certFile, "--tls-key", certificate.keyFile],
      ],
      { env: { ...process.env, HERALD_LOG_LEVEL: "warn" }, stdio: "ignore" },
    );
    const trusting = new Agent({ connect: { ca: ca.cert } });
    try {
      await eventually(
        async () => {
          const response = await request(`https://127.0.0.1:${port}/readyz`, { dispatcher: trusting });
          await response.body.dump();
          return response.statusCode === 200;
        },
        { timeoutMs: 30_000, message: "herald to answer /readyz over HTTPS" },
      );
    } finally {
      // A process that already exited (it failed to start) sends no other exit event.
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
      await trusting.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
