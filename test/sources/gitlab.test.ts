import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { InProcessHerald } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/**
 * GitLabSource from Knative's published sample: webhooks with the secret token become eventing-gitlab's
 * events at a real sink; a wrong token, a missing event header and an event kind not asked for are
 * answered without sending anything; the webhook has the body limit of every source webhook.
 */
const corpus = resolve(dirname(fileURLToPath(import.meta.url)), "../../../shared/knative-manifests");

describe("GitLabSource", () => {
  let herald: InProcessHerald;
  let sink: Receiver;
  let webhook: string;
  const post = (headers: Record<string, string>, body: string) =>
    fetch(webhook, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });

  before(async () => {
    herald = await InProcessHerald.start({ config: { maxBodyBytes: 4096 } });
    sink = await startReceiver();
    const sample = readFileSync(
      join(corpus, "knative/docs/code-samples/eventing/gitlab-source/README.md.block2.yaml"),
      "utf8",
    )
      .replace("<project url>", "https://gitlab.com/acme/shop")
      .replace(/sink:[\s\S]*$/, `sink: { uri: "${sink.url}" }\n`);
    await herald.apply(`apiVersion: v1
kind: Secret
metadata: { name: gitlabsecret }
stringData: { accessToken: glpat-unused, secretToken: s3cret }
---
${sample}`);
    webhook = `${herald.url}/sources/default/gitlabsource-sample`;
    const { body } = await herald.get<{ status: { webhookUrl?: string } }>(
      "/apis/sources.knative.dev/v1alpha1/namespaces/default/gitlabsources/gitlabsource-sample",
    );
    assert.equal(body.status.webhookUrl, webhook);
  });
  after(async () => {
    await herald.close();
    await sink.close();
  });

  it("a push with the secret token becomes dev.knative.sources.gitlabsource.Push Hook from the project", async () => {
    const payload = JSON.stringify({
      object_kind: "push",
      project: { http_url: "https://gitlab.com/acme/shop.git" },
    });
    const response = await post(
      { "x-gitlab-token": "s3cret", "x-gitlab-event": "Push Hook", "x-gitlab-event-uuid": "uuid-1" },
      payload,
    );
    assert.equal(response.status, 202);
    const received = sink.requests.at(-1)!;
    // Binary mode percent-encodes the space (CloudEvents HTTP binding 3.1.3.2).
    assert.equal(
      decodeURIComponent(String(received.headers["ce-type"])),
      "dev.knative.sources.gitlabsource.Push Hook",
    );
    assert.equal(received.headers["ce-source"], "https://gitlab.com/acme/shop.git");
    assert.equal(received.headers["ce-id"], "uuid-1");
    assert.deepEqual(JSON.parse(received.body.toString()), JSON.parse(payload));
  });

  it("an issue event's source is the issue's URL", async () => {
    const response = await post(
      { "x-gitlab-token": "s3cret", "x-gitlab-event": "Issue Hook" },
      JSON.stringify({
        object_kind: "issue",
        object_attributes: { url: "https://gitlab.com/acme/shop/-/issues/7" },
      }),
    );
    assert.equal(response.status, 202);
    assert.equal(sink.requests.at(-1)!.headers["ce-source"], "https://gitlab.com/acme/shop/-/issues/7");
  });

  it("refuses a wrong or missing token, a missing event header, and ignores kinds not asked for", async () => {
    const before = sink.requests.length;
    assert.equal((await post({ "x-gitlab-token": "nope", "x-gitlab-event": "Push Hook" }, "{}")).status, 401);
    assert.equal((await post({ "x-gitlab-event": "Push Hook" }, "{}")).status, 401);
    assert.equal((await post({ "x-gitlab-token": "s3cret" }, "{}")).status, 400);
    assert.equal(
      (await post({ "x-gitlab-token": "s3cret", "x-gitlab-event": "Pipeline Hook" }, "{}")).status,
      204,
    );
    assert.equal(
      (await post({ "x-gitlab-token": "s3cret", "x-gitlab-event": "Push Hook" }, "not json")).status,
      400,
    );
    assert.equal(sink.requests.length, before);
  });

  it("a webhook body above the body limit is refused with 413, as for every source webhook", async () => {
    const response = await post(
      { "x-gitlab-token": "s3cret", "x-gitlab-event": "Push Hook" },
      JSON.stringify({ padding: "x".repeat(8192) }),
    );
    assert.equal(response.status, 413);
  });

  it("an eventTypes entry GitLab does not know is refused at apply, naming the field", async () => {
    const text = await herald.applyRejected(`apiVersion: sources.knative.dev/v1alpha1
kind: GitLabSource
metadata: { name: typo }
spec:
  projectUrl: https://gitlab.com/acme/shop
  eventTypes: [push_event]
  secretToken: { secretKeyRef: { name: gitlabsecret, key: secretToken } }
  sink: { uri: "${sink.url}" }
`);
    assert.match(text, /spec\.eventTypes\[0\]/);
  });
});
