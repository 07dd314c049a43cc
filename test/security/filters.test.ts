import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { HeraldProcess, InProcessHerald, postEvent, type HeraldClient } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

const broker = (name: string) =>
  `apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: { name: ${name} }\n`;
const trigger = (name: string, brokerName: string, subscriber: string, filter: string) => `
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: ${name} }
spec:
  broker: ${brokerName}
  filters: [ ${filter} ]
  subscriber: { uri: "${subscriber}" }
`;

async function triggerReady(herald: HeraldClient, name: string): Promise<void> {
  await eventually(async () => {
    const { body } = await herald.get<{ status: { conditions?: { type: string; status: string }[] } }>(
      `/apis/eventing.knative.dev/v1/namespaces/default/triggers/${name}`,
    );
    return body.status.conditions?.find((c) => c.type === "Ready")?.status === "True";
  });
}

describe("Trigger filters under attack", () => {
  const receivers: Receiver[] = [];
  after(async () => {
    await Promise.all(receivers.map((r) => r.close()));
  });

  describe("in process", () => {
    let herald: InProcessHerald;
    before(async () => {
      herald = await InProcessHerald.start();
    });
    after(async () => {
      await herald.close();
    });

    it("a CESQL filter reading `constructor` neither answers 500 nor starves the Broker's other Triggers", async () => {
      const good = await startReceiver();
      const odd = await startReceiver();
      receivers.push(good, odd);
      await herald.apply(
        [
          broker("proto"),
          trigger("proto-good", "proto", good.url, "{ exact: { type: order } }"),
          trigger("proto-cesql", "proto", odd.url, '{ cesql: "INT(constructor) = 0" }'),
          trigger("proto-exists", "proto", odd.url, '{ cesql: "EXISTS constructor" }'),
          trigger("proto-prefix", "proto", odd.url, '{ prefix: { constructor: "function" } }'),
        ].join("---\n"),
      );
      for (const name of ["proto-good", "proto-cesql", "proto-exists", "proto-prefix"])
        await triggerReady(herald, name);
      const url = `${herald.url}/brokers/default/proto`;
      assert.equal(await postEvent(url, { id: "o1", type: "order" }), 202);
      assert.equal(await postEvent(url, { id: "o2", type: "order" }), 202);
      await eventually(() => good.requests.length === 2);
      assert.deepEqual(
        good.requests.map((r) => r.headers["ce-id"]),
        ["o1", "o2"],
      );
      const metrics = await (await fetch(`${herald.url}/metrics`)).text();
      for (const name of ["proto-cesql", "proto-exists", "proto-prefix"])
        assert.match(
          metrics,
          new RegExp(`herald_events_filtered_total\\{namespace="default",name="${name}"\\} 2\\n`),
        );
      assert.equal(odd.requests.length, 0);
    });
  });

  describe("in a Herald process", () => {
    let herald: HeraldProcess;
    before(async () => {
      herald = await HeraldProcess.start();
    });
    after(async () => {
      await herald.close();
    });

    it("a LIKE pattern full of wildcards does not freeze the process on a long attribute", async () => {
      const like = await startReceiver();
      receivers.push(like);
      await herald.apply(
        [
          broker("redos"),
          trigger("redos-like", "redos", like.url, `{ cesql: "subject LIKE '%a%a%a%a%b'" }`),
        ].join("---\n"),
      );
      await triggerReady(herald, "redos-like");
      // A backtracking matcher takes about 5 s for 150 characters and grows with the cube of the length.
      const subject = "a".repeat(8_000);
      // Every request has a deadline: a frozen process would otherwise keep the test waiting for hours.
      const response = await fetch(`${herald.url}/brokers/default/redos`, {
        method: "POST",
        headers: {
          "ce-specversion": "1.0",
          "ce-id": "long",
          "ce-type": "t",
          "ce-source": "/s",
          "ce-subject": subject,
        },
        body: "x",
        signal: AbortSignal.timeout(20_000),
      });
      assert.equal(response.status, 202);
      const health = await fetch(`${herald.url}/healthz`, { signal: AbortSignal.timeout(20_000) });
      assert.equal(health.status, 200);
      // It did not match: the filter ran to the end and answered false.
      await eventually(async () => {
        const metrics = await (await fetch(`${herald.url}/metrics`)).text();
        return /herald_events_filtered_total\{namespace="default",name="redos-like"\} 1\n/.test(metrics);
      });
      assert.equal(like.requests.length, 0);
    });
  });
});
