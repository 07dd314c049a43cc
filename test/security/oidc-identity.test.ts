import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { eventually } from "../support/eventually.js";
import { InProcessHerald, postEvent } from "../support/herald.js";
import { publish, TestIssuer } from "../support/oidc-issuer.js";
import { startReceiver, type ReceivedRequest, type Receiver } from "../support/receiver.js";

interface OpenIdConfiguration {
  issuer: string;
  jwks_uri: string;
  id_token_signing_alg_values_supported: string[];
}

/** Verifies a delivery's bearer token the way a subscriber would: discovery, then the JWKS. */
async function verifyDelivery(herald: InProcessHerald, request: ReceivedRequest, audience: string) {
  const header = request.headers.authorization ?? "";
  assert.ok(header.startsWith("Bearer "), "the delivery carries a bearer token");
  const discovery = (await (
    await fetch(`${herald.url}/.well-known/openid-configuration`)
  ).json()) as OpenIdConfiguration;
  const { payload, protectedHeader } = await jwtVerify(
    header.slice("Bearer ".length),
    createRemoteJWKSet(new URL(discovery.jwks_uri)),
    {
      issuer: discovery.issuer,
      audience,
    },
  );
  return { payload, protectedHeader };
}

describe("outbound identity: Herald signs a JWT for each delivery to a destination with an audience", () => {
  let herald: InProcessHerald;
  const receivers: Receiver[] = [];
  before(async () => {
    herald = await InProcessHerald.start({ config: { logLevel: "error" } });
  });
  after(async () => {
    await herald.close();
    await Promise.all(receivers.map((receiver) => receiver.close()));
  });

  it("publishes its OpenID configuration and JWKS on the ingress listener", async () => {
    const response = await fetch(`${herald.url}/.well-known/openid-configuration`);
    assert.equal(response.status, 200);
    const discovery = (await response.json()) as OpenIdConfiguration;
    assert.equal(discovery.issuer, herald.url);
    assert.equal(discovery.jwks_uri, `${herald.url}/.well-known/jwks.json`);
    assert.deepEqual(discovery.id_token_signing_alg_values_supported, ["ES256"]);
    const jwks = (await (await fetch(discovery.jwks_uri)).json()) as { keys: Record<string, unknown>[] };
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0]!.kty, "EC");
    assert.equal(jwks.keys[0]!.d, undefined, "the private part is never published");
    const write = await fetch(`${herald.url}/.well-known/jwks.json`, { method: "POST", body: "{}" });
    assert.notEqual(write.status, 200);
    await write.body?.cancel();
  });

  it("a Subscription's subscriber with an audience gets a token naming the Subscription as Knative does; one without gets none", async () => {
    const withAudience = await startReceiver();
    const without = await startReceiver();
    receivers.push(withAudience, without);
    await herald.apply(`
apiVersion: messaging.knative.dev/v1
kind: InMemoryChannel
metadata: { name: payments }
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: billing }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, name: payments }
  subscriber: { uri: ${withAudience.url}, audience: "https://billing.example" }
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: plain }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, name: payments }
  subscriber: { uri: ${without.url} }
`);
    await eventually(async () => (await postEvent(herald.channelUrl("payments"))) === 202);
    const request = await eventually(() => withAudience.requests[0]);
    const { payload, protectedHeader } = await verifyDelivery(herald, request, "https://billing.example");
    assert.equal(
      payload.sub,
      "system:serviceaccount:default:billing-oidc-messaging.knative.dev-subscription",
    );
    assert.equal(protectedHeader.alg, "ES256");
    assert.ok(payload.exp! - payload.iat! <= 300, "the token lives five minutes at most");
    await eventually(() => without.requests[0]);
    assert.equal(without.requests[0]!.headers.authorization, undefined);
  });

  it("a Trigger's dead-letter sink with an audience gets a token naming the Trigger", async () => {
    const failing = await startReceiver(() => ({ status: 500 }));
    const deadLetters = await startReceiver();
    receivers.push(failing, deadLetters);
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: identity }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: fragile }
spec:
  broker: identity
  subscriber: { uri: ${failing.url} }
  delivery:
    retry: 0
    deadLetterSink: { uri: ${deadLetters.url}, audience: dead-letters }
`);
    await eventually(async () => (await postEvent(`${herald.url}/brokers/default/identity`)) === 202);
    const request = await eventually(() => deadLetters.requests[0]);
    const { payload } = await verifyDelivery(herald, request, "dead-letters");
    assert.equal(payload.sub, "system:serviceaccount:default:fragile-oidc-eventing.knative.dev-trigger");
    assert.equal(failing.requests[0]!.headers.authorization, undefined);
  });

  it("a source's sink with an audience gets a token naming the source", async () => {
    const sink = await startReceiver();
    receivers.push(sink);
    await herald.apply(`
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: { name: pulse }
spec:
  schedule: "* * * * * *"
  data: beat
  sink: { uri: ${sink.url}, audience: pulse-sink }
`);
    const sent = await eventually(() => sink.requests[0], { timeoutMs: 15_000 });
    const { payload } = await verifyDelivery(herald, sent, "pulse-sink");
    assert.equal(payload.sub, "system:serviceaccount:default:pulse-oidc-sources.knative.dev-pingsource");
    assert.equal(
      await herald.delete("/apis/sources.knative.dev/v1/namespaces/default/pingsources/pulse"),
      200,
    );
  });

  it("without OIDC ingress authentication, senders show no status.auth", async () => {
    const { body } = await herald.get<{ status: { auth?: unknown } }>(
      "/apis/messaging.knative.dev/v1/namespaces/default/subscriptions/billing",
    );
    assert.equal(body.status.auth, undefined);
  });

  it("keeps its signing key in the data directory (0600) and signs with the same key after a restart", async () => {
    const file = join(herald.dataDir, "oidc-signing-key.json");
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const kid = async (url: string) =>
      ((await (await fetch(`${url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys[0]!
        .kid;
    const first = await kid(herald.url);
    const again = await InProcessHerald.start({ config: { logLevel: "error" }, dataDir: herald.dataDir });
    try {
      assert.equal(await kid(again.url), first);
    } finally {
      await again.close();
    }
  });
});

describe("outbound identity with OIDC ingress authentication on", () => {
  let herald: InProcessHerald;
  let issuer: TestIssuer;
  const receivers: Receiver[] = [];
  before(async () => {
    issuer = await TestIssuer.start();
    herald = await InProcessHerald.start({
      config: { logLevel: "error", apiPort: 0 },
      env: { HERALD_AUTHENTICATION_OIDC: "enabled", HERALD_INGRESS_OIDC_ISSUER: issuer.url },
    });
  });
  after(async () => {
    await herald.close();
    await issuer.close();
    await Promise.all(receivers.map((receiver) => receiver.close()));
  });

  it("serves the OpenID configuration on the ingress listener when the API has its own port", async () => {
    assert.notEqual(herald.apiUrl, herald.url);
    const response = await fetch(`${herald.url}/.well-known/openid-configuration`);
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as OpenIdConfiguration).issuer, herald.url);
  });

  it("a PingSource whose sink is a Herald Broker sends as itself and its events pass ingress", async () => {
    const receiver = await startReceiver();
    receivers.push(receiver);
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: pings }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: all-pings }
spec:
  broker: pings
  subscriber: { uri: ${receiver.url}, audience: ping-receiver }
---
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: { name: ticker }
spec:
  schedule: "* * * * * *"
  data: tick
  sink: { ref: { apiVersion: eventing.knative.dev/v1, kind: Broker, name: pings } }
`);
    const request = await eventually(() => receiver.requests[0], { timeoutMs: 15_000 });
    assert.equal(request.headers["ce-type"], "dev.knative.sources.ping");
    // The Trigger's delivery carries the Trigger's own token for the subscriber's audience.
    const { payload } = await verifyDelivery(herald, request, "ping-receiver");
    assert.equal(payload.sub, "system:serviceaccount:default:all-pings-oidc-eventing.knative.dev-trigger");
  });

  it("a dead-letter sink that is a Herald Channel takes the dead-lettered event with Herald's token", async () => {
    const failing = await startReceiver(() => ({ status: 500 }));
    const archive = await startReceiver();
    receivers.push(failing, archive);
    await herald.apply(`
apiVersion: messaging.knative.dev/v1
kind: InMemoryChannel
metadata: { name: intake }
---
apiVersion: messaging.knative.dev/v1
kind: InMemoryChannel
metadata: { name: dead-letters }
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: archive }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, name: dead-letters }
  subscriber: { uri: ${archive.url} }
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: worker }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, name: intake }
  subscriber: { uri: ${failing.url} }
  delivery:
    retry: 0
    deadLetterSink:
      ref: { apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, name: dead-letters }
`);
    const intake = herald.channelUrl("intake");
    assert.equal((await publish(intake, undefined)).status, 401);
    const token = await issuer.token({
      sub: "system:serviceaccount:default:producer",
      aud: "messaging.knative.dev/inmemorychannel/default/intake",
    });
    await eventually(async () => (await publish(intake, token, { id: "to-dead-letter" })).status === 202);
    const archived = await eventually(() =>
      archive.requests.find((r) => r.headers["ce-id"] === "to-dead-letter"),
    );
    assert.equal(archived.headers["ce-knativeerrorcode"], "500");
    // The archive's own subscriber named no audience: no token reaches it.
    assert.equal(archived.headers.authorization, undefined);
  });
  it("Triggers, Subscriptions and sources show the service account they send as in status.auth, as Knative does", async () => {
    const auth = async (path: string) =>
      (await herald.get<{ status: { auth?: { serviceAccountName: string } } }>(path)).body.status.auth;
    assert.deepEqual(await auth("/apis/eventing.knative.dev/v1/namespaces/default/triggers/all-pings"), {
      serviceAccountName: "all-pings-oidc-eventing.knative.dev-trigger",
    });
    assert.deepEqual(await auth("/apis/messaging.knative.dev/v1/namespaces/default/subscriptions/worker"), {
      serviceAccountName: "worker-oidc-messaging.knative.dev-subscription",
    });
    assert.deepEqual(await auth("/apis/sources.knative.dev/v1/namespaces/default/pingsources/ticker"), {
      serviceAccountName: "ticker-oidc-sources.knative.dev-pingsource",
    });
  });
});
