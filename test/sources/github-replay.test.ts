import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

const secret = "hmac-secret-123";
const sign = (body: string) => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
const pushBody = (after: string) =>
  JSON.stringify({
    compare: `https://github.com/acme/shop/compare/a...${after}`,
    ref: "refs/heads/main",
    repository: { name: "shop", owner: { login: "acme" } },
  });

describe("GitHubSource replays", () => {
  let herald: InProcessHerald;
  let sink: Receiver;
  let webhook: string;
  /** POSTs a signed push as GitHub would; resolves with the status and the answer's text. */
  const deliver = async (delivery: string, body: string, event = "push") => {
    const response = await fetch(webhook, {
      method: "POST",
      headers: { "x-github-event": event, "x-github-delivery": delivery, "x-hub-signature-256": sign(body) },
      body,
    });
    return { status: response.status, text: await response.text() };
  };

  before(async () => {
    sink = await startReceiver();
    herald = await InProcessHerald.start();
    await herald.apply(`apiVersion: v1
kind: Secret
metadata: { name: ghsecret }
data: { token: ${Buffer.from(secret).toString("base64")} }
---
apiVersion: sources.knative.dev/v1alpha1
kind: GitHubSource
metadata: { name: gh }
spec:
  ownerAndRepository: acme/shop
  eventTypes: [push, create]
  secretToken: { secretKeyRef: { name: ghsecret, key: token } }
  sink: { uri: "${sink.url}" }
`);
    webhook = `${herald.url}/sources/default/gh`;
    await eventually(async () => (await deliver("warm-up", pushBody("warm"))).status === 202, {
      message: "the GitHubSource to take deliveries",
    });
  });
  after(async () => {
    await herald.close();
    await sink.close();
  });

  it("refuses a validly signed delivery sent again with 409, and passes it on once", async () => {
    const body = pushBody("b1");
    assert.equal((await deliver("d1", body)).status, 202);
    const again = await deliver("d1", body);
    assert.equal(again.status, 409);
    assert.match(again.text, /delivery d1 was already received/);
    assert.equal(sink.requests.filter((r) => r.headers["ce-id"] === "d1").length, 1);
  });

  it("refuses the same signed body under another delivery id or event name with 409", async () => {
    const body = pushBody("b2");
    assert.equal((await deliver("d2", body)).status, 202);
    for (const [delivery, event] of [
      ["d2-forged", "push"],
      ["d2-other-event", "create"],
    ] as const) {
      const forged = await deliver(delivery, body, event);
      assert.equal(forged.status, 409);
      assert.match(forged.text, /this payload was already received as delivery d2/);
    }
    assert.deepEqual(
      sink.requests.map((r) => r.headers["ce-id"]).filter((id) => String(id).startsWith("d2")),
      ["d2"],
    );
  });

  it("does not record a delivery the sink refused, so GitHub's redelivery of it goes through", async () => {
    sink.respond = () => ({ status: 400 });
    const body = pushBody("b3");
    assert.equal((await deliver("d3", body)).status, 502);
    sink.respond = () => ({ status: 202 });
    assert.equal((await deliver("d3", body)).status, 202);
    assert.equal((await deliver("d3", body)).status, 409);
  });
});
