import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";
import { publish, TestIssuer } from "../support/oidc-issuer.js";
import { startReceiver, startReplier, type Receiver } from "../support/receiver.js";

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface Stored {
  status: { conditions?: Condition[]; from?: string[]; policies?: { apiVersion: string; name: string }[] };
}

const POLICIES = "/apis/eventing.knative.dev/v1alpha1/namespaces/default/eventpolicies";
const BROKERS = "/apis/eventing.knative.dev/v1/namespaces/default/brokers";
const audience = (broker: string) => `eventing.knative.dev/broker/default/${broker}`;
const condition = (stored: Stored, type: string) => stored.status.conditions?.find((c) => c.type === type);

describe("EventPolicy (eventing.knative.dev/v1alpha1) with OIDC ingress authentication on", () => {
  let herald: InProcessHerald;
  let issuer: TestIssuer;
  const receivers: Receiver[] = [];

  before(async () => {
    issuer = await TestIssuer.start();
    herald = await InProcessHerald.start({
      config: { logLevel: "error" },
      env: {
        HERALD_AUTHENTICATION_OIDC: "enabled",
        HERALD_INGRESS_OIDC_ISSUER: issuer.url,
        HERALD_DEFAULT_AUTHORIZATION_MODE: "deny-all",
      },
    });
  });
  after(async () => {
    await herald.close();
    await issuer.close();
    await Promise.all(receivers.map((receiver) => receiver.close()));
  });

  it("deny-all refuses every subject where no policy applies, with 403 and a JSON body", async () => {
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: closed }
`);
    const token = await issuer.token({ sub: "system:serviceaccount:default:me", aud: audience("closed") });
    const answer = await eventually(async () => {
      const result = await publish(`${herald.url}/brokers/default/closed`, token);
      return result.status === 403 ? result : undefined;
    });
    assert.equal(answer.body?.code, "Forbidden");
    assert.match(String(answer.body?.message), /deny-all/);
  });

  it("allows the subjects of spec.from (exact and trailing-* patterns) at the Brokers of spec.to, and only those", async () => {
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: shop, labels: { team: shop } }
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: other }
---
apiVersion: eventing.knative.dev/v1alpha1
kind: EventPolicy
metadata: { name: shop-producers }
spec:
  to:
    - selector:
        apiVersion: eventing.knative.dev/v1
        kind: Broker
        matchLabels: { team: shop }
  from:
    - sub: "system:serviceaccount:default:checkout"
    - sub: "https://ci.example/*"
`);
    const policy = await eventually(async () => {
      const { body } = await herald.get<Stored>(`${POLICIES}/shop-producers`);
      return condition(body, "Ready")?.status === "True" ? body : undefined;
    });
    assert.deepEqual(policy.status.from, ["system:serviceaccount:default:checkout", "https://ci.example/*"]);
    assert.equal(condition(policy, "AuthenticationEnabled")?.status, "True");
    assert.equal(condition(policy, "SubjectsResolved")?.status, "True");
    const broker = await eventually(async () => {
      const { body } = await herald.get<Stored>(`${BROKERS}/shop`);
      return body.status.policies ? body : undefined;
    });
    assert.deepEqual(broker.status.policies, [
      { apiVersion: "eventing.knative.dev/v1alpha1", name: "shop-producers" },
    ]);
    assert.equal(condition(broker, "EventPoliciesReady")?.status, "True");
    // The Broker the selector does not match has no policy: deny-all.
    const other = await herald.get<Stored>(`${BROKERS}/other`);
    assert.equal(other.body.status.policies, undefined);

    const shop = `${herald.url}/brokers/default/shop`;
    const checkout = await issuer.token({
      sub: "system:serviceaccount:default:checkout",
      aud: audience("shop"),
    });
    const ci = await issuer.token({ sub: "https://ci.example/pipelines/7", aud: audience("shop") });
    const stranger = await issuer.token({
      sub: "system:serviceaccount:default:stranger",
      aud: audience("shop"),
    });
    assert.equal((await publish(shop, checkout)).status, 202);
    assert.equal((await publish(shop, ci)).status, 202);
    const refused = await publish(shop, stranger);
    assert.equal(refused.status, 403);
    assert.match(String(refused.body?.message), /shop-producers/);
    const elsewhere = await issuer.token({
      sub: "system:serviceaccount:default:checkout",
      aud: audience("other"),
    });
    assert.equal((await publish(`${herald.url}/brokers/default/other`, elsewhere)).status, 403);
  });

  it("spec.filters (SubscriptionsAPI, CESQL included) decide which events an allowed subject may send", async () => {
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: filtered }
---
apiVersion: eventing.knative.dev/v1alpha1
kind: EventPolicy
metadata: { name: only-orders }
spec:
  to:
    - ref: { apiVersion: eventing.knative.dev/v1, kind: Broker, name: filtered }
  from:
    - sub: "system:serviceaccount:default:*"
  filters:
    - prefix: { type: com.shop.order. }
    - cesql: "source = '/test'"
`);
    await eventually(async () => {
      const { body } = await herald.get<Stored>(`${BROKERS}/filtered`);
      return body.status.policies?.length === 1;
    });
    const url = `${herald.url}/brokers/default/filtered`;
    const token = await issuer.token({
      sub: "system:serviceaccount:default:anyone",
      aud: audience("filtered"),
    });
    assert.equal((await publish(url, token, { type: "com.shop.order.created" })).status, 202);
    const refused = await publish(url, token, { type: "com.shop.refund.created" });
    assert.equal(refused.status, 403);
    assert.match(String(refused.body?.message), /filters/);
  });

  it("a spec.from ref resolves to the identity Herald sends as for that Trigger, and its replies pass", async () => {
    const replier = await startReplier({ type: "com.shop.replied", source: "/replier", body: "ok" });
    const final = await startReceiver();
    receivers.push(replier, final);
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: loop }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: asker }
spec:
  broker: loop
  filter: { attributes: { type: com.shop.asked } }
  subscriber: { uri: ${replier.url} }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: answers }
spec:
  broker: loop
  filter: { attributes: { type: com.shop.replied } }
  subscriber: { uri: ${final.url} }
---
apiVersion: eventing.knative.dev/v1alpha1
kind: EventPolicy
metadata: { name: loop-senders }
spec:
  to:
    - ref: { apiVersion: eventing.knative.dev/v1, kind: Broker, name: loop }
  from:
    - sub: "system:serviceaccount:default:client"
    - ref: { apiVersion: eventing.knative.dev/v1, kind: Trigger, name: asker }
`);
    const policy = await eventually(async () => {
      const { body } = await herald.get<Stored>(`${POLICIES}/loop-senders`);
      return condition(body, "Ready")?.status === "True" ? body : undefined;
    });
    assert.deepEqual(policy.status.from, [
      "system:serviceaccount:default:client",
      "system:serviceaccount:default:asker-oidc-eventing.knative.dev-trigger",
    ]);
    const token = await issuer.token({ sub: "system:serviceaccount:default:client", aud: audience("loop") });
    await eventually(
      async () =>
        (await publish(`${herald.url}/brokers/default/loop`, token, { type: "com.shop.asked" })).status ===
        202,
    );
    await eventually(() => final.requests.find((r) => r.headers["ce-type"] === "com.shop.replied"));
  });

  it("a spec.from ref to something that does not exist leaves the policy not Ready (SubjectsResolved=False) and the Broker's EventPoliciesReady False", async () => {
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: pending }
---
apiVersion: eventing.knative.dev/v1alpha1
kind: EventPolicy
metadata: { name: missing-ref }
spec:
  to:
    - ref: { apiVersion: eventing.knative.dev/v1, kind: Broker, name: pending }
  from:
    - ref: { apiVersion: eventing.knative.dev/v1, kind: Trigger, name: nobody }
`);
    const policy = await eventually(async () => {
      const { body } = await herald.get<Stored>(`${POLICIES}/missing-ref`);
      return condition(body, "SubjectsResolved")?.status === "False" ? body : undefined;
    });
    assert.equal(condition(policy, "Ready")?.status, "False");
    assert.match(condition(policy, "SubjectsResolved")?.message ?? "", /Trigger default\/nobody not found/);
    const broker = await eventually(async () => {
      const { body } = await herald.get<Stored>(`${BROKERS}/pending`);
      return condition(body, "EventPoliciesReady")?.status === "False" ? body : undefined;
    });
    assert.equal(condition(broker, "EventPoliciesReady")?.reason, "EventPoliciesNotReady");
  });

  it("refuses at apply a sub with '*' before its end, a from entry with both ref and sub, and an invalid CESQL filter", async () => {
    const text = await herald.applyRejected(`
apiVersion: eventing.knative.dev/v1alpha1
kind: EventPolicy
metadata: { name: bad }
spec:
  from:
    - sub: "system:*:default"
    - sub: x
      ref: { apiVersion: eventing.knative.dev/v1, kind: Trigger, name: t }
  to:
    - {}
`);
    assert.match(text, /spec\.from\[0\]\.sub/);
    assert.match(text, /only allowed as suffix/);
    assert.match(text, /spec\.from\[1\]/);
    assert.match(text, /spec\.to\[0\]/);
    const cesql = await herald.applyRejected(`
apiVersion: eventing.knative.dev/v1alpha1
kind: EventPolicy
metadata: { name: bad-filter }
spec:
  from:
    - sub: "system:serviceaccount:default:*"
  filters:
    - cesql: "type = "
`);
    assert.match(cesql, /spec\.filters\[0\]\.cesql/);
  });
});

describe("EventPolicy with OIDC ingress authentication off", () => {
  let herald: InProcessHerald;
  before(async () => {
    herald = await InProcessHerald.start({ config: { logLevel: "error" } });
  });
  after(async () => {
    await herald.close();
  });

  it("is stored but not Ready, with a reason saying OIDC ingress authentication is off, and the Broker, still Ready, says it is not enforced", async () => {
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: open }
---
apiVersion: eventing.knative.dev/v1alpha1
kind: EventPolicy
metadata: { name: ignored-otherwise }
spec:
  from:
    - sub: "system:serviceaccount:default:someone"
`);
    const policy = await eventually(async () => {
      const { body } = await herald.get<Stored>(`${POLICIES}/ignored-otherwise`);
      return condition(body, "Ready") ? body : undefined;
    });
    assert.equal(condition(policy, "Ready")?.status, "False");
    assert.equal(condition(policy, "Ready")?.reason, "OIDCAuthenticationDisabled");
    assert.match(condition(policy, "Ready")?.message ?? "", /HERALD_AUTHENTICATION_OIDC/);
    const broker = await eventually(async () => {
      const { body } = await herald.get<Stored>(`${BROKERS}/open`);
      return condition(body, "EventPoliciesReady")?.reason === "OIDCDisabled" ? body : undefined;
    });
    assert.equal(condition(broker, "EventPoliciesReady")?.status, "True");
    assert.match(
      condition(broker, "EventPoliciesReady")?.message ?? "",
      /ignored-otherwise are not enforced/,
    );
    assert.equal(condition(broker, "Ready")?.status, "True");
    assert.equal(broker.status.policies, undefined);
    // No audience is announced with the feature off, as in Knative.
    const address = (broker.status as { address?: { audience?: string } }).address;
    assert.equal(address?.audience, undefined);
  });
});
