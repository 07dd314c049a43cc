import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { InProcessHerald, postEvent } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

const subscription = (name: string, subscriber: string, deadLetterSink: string, delivery: string) => `
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: ${name} }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: waits }
  subscriber: { uri: "${subscriber}" }
  delivery: { ${delivery}, deadLetterSink: { uri: "${deadLetterSink}" } }
`;

describe("retry waits beyond the 32-bit timer range", () => {
  let herald: InProcessHerald;
  const receivers: Receiver[] = [];
  const receiver = async (respond?: Receiver["respond"]) => {
    const started = await startReceiver(respond);
    receivers.push(started);
    return started;
  };
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);

  before(async () => {
    herald = await InProcessHerald.start();
    process.on("warning", onWarning);
  });
  after(async () => {
    process.off("warning", onWarning);
    await herald.close();
    await Promise.all(receivers.map((r) => r.close()));
  });

  async function attempts(name: string, code: string): Promise<number> {
    const metrics = await (await fetch(`${herald.url}/metrics`)).text();
    const line = new RegExp(
      `herald_event_dispatch_attempts_total\\{namespace="default",name="${name}",code="${code}"\\} (\\d+)`,
    ).exec(metrics);
    return line ? Number(line[1]) : 0;
  }

  it("a Retry-After of 1157 days and a backoff of 30 days are waited out, not retried at once", async () => {
    const retryAfter = await receiver(() => ({ status: 503, headers: { "retry-after": "99999999" } }));
    const failing = await receiver(() => ({ status: 500 }));
    const deadLetters = await receiver();
    await herald.apply(
      [
        "apiVersion: messaging.knative.dev/v1\nkind: Channel\nmetadata: { name: waits }\n",
        subscription("waits-retry-after", retryAfter.url, deadLetters.url, "retry: 5, backoffDelay: PT1S"),
        subscription(
          "waits-backoff",
          failing.url,
          deadLetters.url,
          "retry: 5, backoffPolicy: linear, backoffDelay: P30D",
        ),
      ].join("---\n"),
    );
    await eventually(async () => {
      for (const name of ["waits-retry-after", "waits-backoff"]) {
        const { body } = await herald.get<{ status: { conditions?: { type: string; status: string }[] } }>(
          `/apis/messaging.knative.dev/v1/namespaces/default/subscriptions/${name}`,
        );
        if (body.status.conditions?.find((c) => c.type === "Ready")?.status !== "True") return false;
      }
      return true;
    });
    assert.equal(await postEvent(herald.channelUrl("waits"), { id: "w1" }), 202);
    // An attempt is counted in the same turn that arms the wait for the next one.
    await eventually(async () => (await attempts("waits-retry-after", "503")) >= 1);
    await eventually(async () => (await attempts("waits-backoff", "500")) >= 1);
    // Deleting the subscriptions ends their waits; whatever was retried before is still counted.
    for (const name of ["waits-retry-after", "waits-backoff"])
      assert.equal(
        await herald.delete(`/apis/messaging.knative.dev/v1/namespaces/default/subscriptions/${name}`),
        200,
      );
    assert.equal(retryAfter.requests.length, 1);
    assert.equal(failing.requests.length, 1);
    assert.equal(deadLetters.requests.length, 0);
    assert.deepEqual(
      warnings.filter((w) => w.startsWith("TimeoutOverflowWarning")),
      [],
    );
  });

  it("refuses more than 1000 retries at apply, naming the field", async () => {
    const text = await herald.applyRejected(
      subscription("too-many", "http://127.0.0.1:1/", "http://127.0.0.1:1/", "retry: 1001"),
    );
    assert.match(text, /spec\.delivery\.retry/);
    assert.match(text, /1000/);
  });
});
