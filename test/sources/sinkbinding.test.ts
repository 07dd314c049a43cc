import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";

/**
 * SinkBinding from Knative's bookstore sample: the Broker sink resolves into status.sinkUri, and the
 * subject, a Deployment Herald does not run, is named in the SubjectBound condition with the
 * variables to give it.
 */
interface Status {
  status: {
    sinkUri?: string;
    bindingEnv?: { K_SINK: string; K_CE_OVERRIDES: string };
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}
const corpus = resolve(dirname(fileURLToPath(import.meta.url)), "../../../shared/knative-manifests");

describe("SinkBinding", () => {
  let herald: InProcessHerald;
  before(async () => {
    herald = await InProcessHerald.start();
  });
  after(async () => {
    await herald.close();
  });

  it("resolves its Broker sink and says how to give the subject K_SINK", async () => {
    const sample = readFileSync(
      join(
        corpus,
        "knative/docs/docs/versioned/bookstore/page-1/send-review-comment-to-broker.md.block1.yaml",
      ),
      "utf8",
    );
    await herald.apply(`apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: bookstore-broker }
---
${sample}`);
    const path = "/apis/sources.knative.dev/v1/namespaces/default/sinkbindings/node-sinkbinding";
    const status = await eventually(async () => {
      const { body } = await herald.get<Status>(path);
      return body.status.conditions?.find((c) => c.type === "Ready")?.status === "True" && body.status;
    });
    const brokerUrl = `${herald.url}/brokers/default/bookstore-broker`;
    assert.equal(status.sinkUri, brokerUrl);
    assert.equal(status.bindingEnv?.K_SINK, brokerUrl);
    const bound = status.conditions?.find((c) => c.type === "SubjectBound");
    assert.equal(bound?.reason, "NotRunByHerald");
    assert.match(
      bound?.message ?? "",
      /Herald runs no apps\/v1 Deployment selected by app=node-server: start it with K_SINK=/,
    );
  });

  it("a subject with both a name and a selector is refused at apply, naming the field", async () => {
    const text = await herald.applyRejected(`apiVersion: sources.knative.dev/v1
kind: SinkBinding
metadata: { name: both }
spec:
  subject: { apiVersion: apps/v1, kind: Deployment, name: x, selector: { matchLabels: { a: b } } }
  sink: { uri: "http://127.0.0.1:9/" }
`);
    assert.match(text, /spec\.subject.*exactly one of name, selector/);
  });
});
