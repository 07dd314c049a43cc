import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { SignJWT } from "jose";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";
import { publish, TestIssuer } from "../support/oidc-issuer.js";
import { startReceiver, startReplier, type Receiver } from "../support/receiver.js";

interface Addressable {
  status: {
    address?: { url: string; audience?: string };
    conditions?: { type: string; status: string; reason?: string }[];
  };
}

const BROKER_AUDIENCE = "eventing.knative.dev/broker/default/orders";
const PRODUCER = "system:serviceaccount:default:producer";

describe("ingress authentication the Knative way (authentication-oidc)", () => {
  let herald: InProcessHerald;
  let issuer: TestIssuer;
  const receivers: Receiver[] = [];

  before(async () => {
    issuer = await TestIssuer.start();
    herald = await InProcessHerald.start({
      config: { logLevel: "error" },
      env: { HERALD_AUTHENTICATION_OIDC: "enabled", HERALD_INGRESS_OIDC_ISSUER: issuer.url },
    });
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: orders }
---
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: audit }
---
apiVersion: messaging.knative.dev/v1
kind: InMemoryChannel
metadata: { name: fast }
`);
    await eventually(async () => {
      const { body } = await herald.get<Addressable>(
        "/apis/eventing.knative.dev/v1/namespaces/default/brokers/orders",
      );
      return body.status.address?.audience;
    });
  });
  after(async () => {
    await herald.close();
    await issuer.close();
    await Promise.all(receivers.map((receiver) => receiver.close()));
  });

  it("every Broker and Channel announces status.address.audience as <group>/<kind>/<namespace>/<name>", async () => {
    const broker = await herald.get<Addressable>(
      "/apis/eventing.knative.dev/v1/namespaces/default/brokers/orders",
    );
    assert.equal(broker.body.status.address?.audience, BROKER_AUDIENCE);
    const memory = await eventually(async () => {
      const { body } = await herald.get<Addressable>(
        "/apis/messaging.knative.dev/v1/namespaces/default/inmemorychannels/fast",
      );
      return body.status.address?.audience;
    });
    assert.equal(memory, "messaging.knative.dev/inmemorychannel/default/fast");
    // A Channel announces its backing channel's audience, as Knative's Channel does.
    const channel = await eventually(async () => {
      const { body } = await herald.get<Addressable>(
        "/apis/messaging.knative.dev/v1/namespaces/default/channels/audit",
      );
      return body.status.address?.audience;
    });
    assert.equal(channel, "messaging.herald.dev/logchannel/default/audit");
    const broker2 = await herald.get<Addressable>(
      "/apis/eventing.knative.dev/v1/namespaces/default/brokers/orders",
    );
    const policies = broker2.body.status.conditions?.find((c) => c.type === "EventPoliciesReady");
    assert.equal(policies?.status, "True");
    assert.equal(policies?.reason, "DefaultAuthorizationMode");
  });

  it("answers 401 with a JSON body and WWW-Authenticate to a request without a token", async () => {
    const answer = await publish(`${herald.url}/brokers/default/orders`, undefined);
    assert.equal(answer.status, 401);
    assert.equal(answer.body?.code, "Unauthorized");
    assert.match(String(answer.body?.message), /audience/);
    assert.match(answer.headers.get("www-authenticate") ?? "", /^Bearer/);
    const garbage = await publish(`${herald.url}/brokers/default/orders`, "not-a-jwt");
    assert.equal(garbage.status, 401);
  });

  it("refuses a token for another audience, an expired one, and one of an issuer it does not trust", async () => {
    const url = `${herald.url}/brokers/default/orders`;
    const other = await issuer.token({ sub: PRODUCER, aud: "eventing.knative.dev/broker/default/other" });
    assert.equal((await publish(url, other)).status, 401);
    const expired = await issuer.token({ sub: PRODUCER, aud: BROKER_AUDIENCE, expiresIn: -120 });
    assert.equal((await publish(url, expired)).status, 401);
    const stranger = await issuer.token({
      sub: PRODUCER,
      aud: BROKER_AUDIENCE,
      issuer: "https://evil.example",
    });
    const refused = await publish(url, stranger);
    assert.equal(refused.status, 401);
    assert.match(String(refused.body?.message), /not trusted/);
  });

  it("refuses forged tokens: alg none, HS256 keyed with the issuer's public JWKS, a tampered payload", async () => {
    const url = `${herald.url}/brokers/default/orders`;
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: issuer.url, aud: BROKER_AUDIENCE, sub: PRODUCER, iat: now, exp: now + 300 };
    const none = `${encode({ alg: "none", typ: "JWT" })}.${encode(claims)}.`;
    assert.equal((await publish(url, none)).status, 401);
    const jwks = (await (await fetch(`${issuer.url}/jwks`)).json()) as { keys: { kid: string }[] };
    const secret = new TextEncoder().encode(JSON.stringify(jwks.keys[0]));
    const hmac = await new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256", kid: jwks.keys[0]!.kid })
      .sign(secret);
    assert.equal((await publish(url, hmac)).status, 401);
    const genuine = await issuer.token({ sub: "system:serviceaccount:elsewhere:x", aud: BROKER_AUDIENCE });
    const [header, , signature] = genuine.split(".");
    const tampered = `${header}.${encode({ ...claims })}.${signature}`;
    assert.equal((await publish(url, tampered)).status, 401);
  });

  it("takes a token of the configured issuer for the audience, and delivers the event", async () => {
    const receiver = await startReceiver();
    receivers.push(receiver);
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: to-receiver }
spec:
  broker: orders
  filter: { attributes: { type: dev.herald.accepted } }
  subscriber: { uri: ${receiver.url} }
`);
    const token = await issuer.token({ sub: PRODUCER, aud: BROKER_AUDIENCE });
    await eventually(
      async () =>
        (await publish(`${herald.url}/brokers/default/orders`, token, { type: "dev.herald.accepted" }))
          .status === 202,
    );
    await eventually(() => receiver.requests.length >= 1);
    // The subscriber names no audience: the delivery carries no token.
    assert.equal(receiver.requests[0]!.headers.authorization, undefined);
  });

  it("allow-same-namespace (the default mode) refuses a subject of another namespace with 403", async () => {
    const token = await issuer.token({
      sub: "system:serviceaccount:elsewhere:producer",
      aud: BROKER_AUDIENCE,
    });
    const answer = await publish(`${herald.url}/brokers/default/orders`, token);
    assert.equal(answer.status, 403);
    assert.equal(answer.body?.code, "Forbidden");
    assert.match(String(answer.body?.message), /allow-same-namespace/);
  });

  it("follows the issuer's key rotation: a token signed with a new key is taken once the JWKS is fetched again", async () => {
    const url = `${herald.url}/channels/default/fast`;
    const before = await issuer.token({
      sub: PRODUCER,
      aud: "messaging.knative.dev/inmemorychannel/default/fast",
    });
    assert.equal((await publish(url, before)).status, 202);
    const fetches = issuer.jwksFetches;
    await issuer.rotate();
    const rotated = await issuer.token({
      sub: PRODUCER,
      aud: "messaging.knative.dev/inmemorychannel/default/fast",
    });
    await eventually(async () => (await publish(url, rotated)).status === 202, {
      timeoutMs: 15_000,
      intervalMs: 500,
    });
    assert.ok(issuer.jwksFetches > fetches, "the JWKS was fetched again for the unknown key");
    // The old key is gone from the JWKS: its tokens no longer pass.
    assert.equal((await publish(url, before)).status, 401);
  });

  it("a sink Herald runs (EventTransform) announces its audience and takes events only with a token for it", async () => {
    await herald.apply(`
apiVersion: eventing.knative.dev/v1alpha1
kind: EventTransform
metadata: { name: shout }
spec:
  jsonata:
    expression: '$merge([$, {"type": "shouted"}])'
`);
    const address = await eventually(async () => {
      const { body } = await herald.get<Addressable>(
        "/apis/eventing.knative.dev/v1alpha1/namespaces/default/eventtransforms/shout",
      );
      return body.status.address;
    });
    assert.equal(address.audience, "eventing.knative.dev/eventtransform/default/shout");
    const refused = await publish(address.url, undefined);
    assert.equal(refused.status, 401);
    assert.equal(refused.body?.code, "Unauthorized");
    const stranger = await issuer.token({ sub: "system:serviceaccount:elsewhere:x", aud: address.audience });
    assert.equal((await publish(address.url, stranger)).status, 403);
    const token = await issuer.token({ sub: PRODUCER, aud: address.audience });
    const response = await fetch(address.url, {
      method: "POST",
      headers: {
        "ce-specversion": "1.0",
        "ce-id": "s1",
        "ce-type": "quiet",
        "ce-source": "/test",
        "content-type": "application/json",
        authorization: `Bearer ${token}`,
      },
      body: "{}",
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("ce-type"), "shouted");
    await response.body?.cancel();
  });

  it("a Sequence keeps working: its steps' replies into its next channels carry Herald's tokens", async () => {
    const step = (name: string) =>
      startReplier({ type: `dev.herald.${name}`, source: `/${name}`, idPrefix: name, body: name });
    const first = await step("first");
    const second = await step("second");
    const reply = await startReceiver();
    receivers.push(first, second, reply);
    await herald.apply(`
apiVersion: flows.knative.dev/v1
kind: Sequence
metadata: { name: pipeline }
spec:
  channelTemplate: { apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel }
  steps:
    - uri: ${first.url}
    - uri: ${second.url}
  reply: { uri: ${reply.url} }
`);
    const address = await eventually(async () => {
      const { body } = await herald.get<Addressable>(
        "/apis/flows.knative.dev/v1/namespaces/default/sequences/pipeline",
      );
      return body.status.address?.audience ? body.status.address : undefined;
    });
    const token = await issuer.token({ sub: PRODUCER, aud: address.audience ?? "" });
    assert.equal((await publish(address.url, undefined)).status, 401);
    await eventually(async () => (await publish(address.url, token, { id: "through" })).status === 202);
    const received = await eventually(() => reply.requests[0]);
    assert.equal(received.headers["ce-type"], "dev.herald.second");
    assert.equal(second.requests[0]!.headers["ce-type"], "dev.herald.first");
  });

  it("accepts Herald's own tokens: a Trigger's reply reaches its Broker, and a second Trigger delivers it", async () => {
    const replier = await startReplier({ type: "dev.herald.replied", source: "/replier", body: "answer" });
    const final = await startReceiver();
    receivers.push(replier, final);
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: ask }
spec:
  broker: orders
  filter: { attributes: { type: dev.herald.question } }
  subscriber: { uri: ${replier.url} }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: answers }
spec:
  broker: orders
  filter: { attributes: { type: dev.herald.replied } }
  subscriber: { uri: ${final.url} }
`);
    const token = await issuer.token({ sub: PRODUCER, aud: BROKER_AUDIENCE });
    await eventually(
      async () =>
        (await publish(`${herald.url}/brokers/default/orders`, token, { type: "dev.herald.question" }))
          .status === 202,
    );
    const delivered = await eventually(() =>
      final.requests.find((r) => r.headers["ce-type"] === "dev.herald.replied"),
    );
    assert.equal(delivered.headers["ce-source"], "/replier");
  });
});
