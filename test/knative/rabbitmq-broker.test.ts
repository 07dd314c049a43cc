// needs: rabbitmq
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { InProcessHerald, postEvent } from "../support/herald.js";
import { RABBITMQ_URL } from "../support/rabbitmq.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/**
 * Brokers of class RabbitMQBroker as eventing-rabbitmq's samples write them: the Trigger annotation
 * `rabbitmq.eventing.knative.dev/parallelism` (1 delivers in order, one at a time; more delivers
 * that many at once; anything else keeps the Trigger not Ready).
 */
interface Status {
  status: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

describe("RabbitMQ broker settings", () => {
  let herald: InProcessHerald;
  // The queues outlive a run on the shared RabbitMQ: a Broker name of this run's own.
  const rabbit = `rabbit-${randomUUID().slice(0, 8)}`;
  const receivers: Receiver[] = [];
  /** Answers each request 150 ms later, and counts the most requests it held unanswered at once. */
  const slowReceiver = async () => {
    let active = 0;
    const concurrency = { max: 0 };
    const started = await startReceiver(() => {
      active++;
      concurrency.max = Math.max(concurrency.max, active);
      setTimeout(() => active--, 150);
      return { status: 202, delayMs: 150 };
    });
    receivers.push(started);
    return Object.assign(started, { concurrency });
  };
  const ready = (path: string) =>
    eventually(
      async () => {
        const { body } = await herald.get<Status>(path);
        return body.status.conditions?.find((c) => c.type === "Ready")?.status === "True";
      },
      { timeoutMs: 30_000, message: `${path} to be Ready` },
    );
  const triggerPath = (name: string) => `/apis/eventing.knative.dev/v1/namespaces/default/triggers/${name}`;

  before(async () => {
    herald = await InProcessHerald.start({ config: { rabbitmqUrl: RABBITMQ_URL } });
  });
  after(async () => {
    await herald.close();
    await Promise.all(receivers.map((r) => r.close()));
  });

  it("parallelism 1 delivers in order one at a time; parallelism 5 delivers five at once", async () => {
    const fifo = await slowReceiver();
    const wide = await slowReceiver();
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: ${rabbit}
  annotations: { eventing.knative.dev/broker.class: RabbitMQBroker }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: fifo
  annotations: { rabbitmq.eventing.knative.dev/parallelism: "1" }
spec:
  broker: ${rabbit}
  subscriber: { uri: "${fifo.url}" }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: wide
  annotations: { rabbitmq.eventing.knative.dev/parallelism: "5" }
spec:
  broker: ${rabbit}
  subscriber: { uri: "${wide.url}" }
`);
    await ready(triggerPath("fifo"));
    await ready(triggerPath("wide"));
    for (let n = 1; n <= 5; n++) {
      const status = await postEvent(`${herald.url}/brokers/default/${rabbit}`, {
        id: `e-${n}`,
        type: "com.example.n",
        source: "/test",
      });
      assert.equal(status, 202);
    }
    await eventually(() => fifo.requests.length === 5 && wide.requests.length === 5, {
      timeoutMs: 30_000,
      message: "five events at each subscriber",
    });
    assert.deepEqual(
      fifo.requests.map((r) => r.headers["ce-id"]),
      ["e-1", "e-2", "e-3", "e-4", "e-5"],
    );
    // One at a time: no request arrives while an earlier one is unanswered.
    assert.equal(fifo.concurrency.max, 1, "one at a time");
    // Several at once: requests arrive while earlier ones are unanswered.
    assert.ok(wide.concurrency.max > 1, `several at once (at most ${wide.concurrency.max})`);
  });

  it("a Trigger of a RabbitMQ Broker without the annotation delivers in order, as eventing-rabbitmq's FIFO default", async () => {
    const sink = await slowReceiver();
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: default-order }
spec:
  broker: ${rabbit}
  subscriber: { uri: "${sink.url}" }
`);
    await ready(triggerPath("default-order"));
    for (let n = 1; n <= 3; n++)
      assert.equal(
        await postEvent(`${herald.url}/brokers/default/${rabbit}`, { id: `o-${n}`, type: "com.example.o" }),
        202,
      );
    await eventually(() => sink.requests.length === 3, { timeoutMs: 30_000, message: "three events" });
    assert.deepEqual(
      sink.requests.map((r) => r.headers["ce-id"]),
      ["o-1", "o-2", "o-3"],
    );
    assert.equal(sink.concurrency.max, 1, "one at a time");
  });

  it("a parallelism that is not an integer from 1 to 1000 keeps the Trigger not Ready, naming the annotation", async () => {
    const sink = await slowReceiver();
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: rabbit-bad
  annotations: { eventing.knative.dev/broker.class: RabbitMQBroker }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: bad-parallelism
  annotations: { rabbitmq.eventing.knative.dev/parallelism: "fifo" }
spec:
  broker: rabbit-bad
  subscriber: { uri: "${sink.url}" }
`);
    const condition = await eventually(async () => {
      const { body } = await herald.get<Status>(triggerPath("bad-parallelism"));
      const found = body.status.conditions?.find((c) => c.type === "Ready");
      return found?.reason === "InvalidParallelism" && found;
    });
    assert.equal(condition.status, "False");
    assert.match(
      condition.message ?? "",
      /rabbitmq\.eventing\.knative\.dev\/parallelism\]: must be an integer/,
    );
  });
});
