import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { InProcessHerald, postEvent } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

const trigger = (name: string, broker: string, subscriber: string, filter: string) => `
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: ${name} }
spec:
  broker: ${broker}
${filter}
  subscriber: { uri: "${subscriber}" }
`;

interface Stored {
  status: {
    address?: { url: string };
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

describe("Broker and Trigger on the in-memory channel", () => {
  let herald: InProcessHerald;
  const receivers: Receiver[] = [];
  const receiver = async (respond?: Receiver["respond"]) => {
    const started = await startReceiver(respond);
    receivers.push(started);
    return started;
  };
  const brokerUrl = (name: string) => `${herald.url}/brokers/default/${name}`;

  before(async () => {
    herald = await InProcessHerald.start();
  });
  after(async () => {
    await herald.close();
    await Promise.all(receivers.map((r) => r.close()));
  });

  it("reports the broker's address and routes events by filter.attributes", async () => {
    const orders = await receiver();
    const everything = await receiver();
    await herald.apply(
      [
        "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: { name: default }\n",
        trigger(
          "orders",
          "default",
          orders.url,
          "  filter: { attributes: { type: order.created, source: '' } }",
        ),
        trigger("everything", "default", everything.url, ""),
      ].join("---\n"),
    );
    const broker = await eventually(async () => {
      const { body } = await herald.get<Stored>(
        "/apis/eventing.knative.dev/v1/namespaces/default/brokers/default",
      );
      return body.status.conditions?.find((c) => c.type === "Ready")?.status === "True" && body;
    });
    assert.equal(broker.status.address?.url, brokerUrl("default"));
    assert.equal(await postEvent(brokerUrl("default"), { id: "o-1", type: "order.created" }), 202);
    assert.equal(await postEvent(brokerUrl("default"), { id: "p-1", type: "payment.received" }), 202);
    await eventually(() => everything.requests.length === 2);
    await eventually(() => orders.requests.length === 1);
    assert.equal(orders.requests[0]!.headers["ce-id"], "o-1");
    // The filtered-out event cost no HTTP call: the next matching event is the second request.
    assert.equal(await postEvent(brokerUrl("default"), { id: "o-2", type: "order.created" }), 202);
    await eventually(() => orders.requests.length === 2);
    assert.deepEqual(
      orders.requests.map((r) => r.headers["ce-id"]),
      ["o-1", "o-2"],
    );
    const metrics = await (await fetch(`${herald.url}/metrics`)).text();
    assert.match(metrics, /herald_events_filtered_total\{namespace="default",name="orders"\} 1\n/);
  });

  it("routes with the filters dialects, including CESQL", async () => {
    const prefixed = await receiver();
    const sql = await receiver();
    await herald.apply(
      [
        "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: { name: dialects }\n",
        trigger(
          "prefixed",
          "dialects",
          prefixed.url,
          "  filters:\n    - any:\n        - prefix: { type: com.shop. }\n        - exact: { source: /legacy }\n    - not: { suffix: { type: .test } }",
        ),
        trigger(
          "sql",
          "dialects",
          sql.url,
          "  filters:\n    - cesql: \"type LIKE 'com.shop.%' AND INT(amount) > 100\"",
        ),
      ].join("---\n"),
    );
    await eventually(async () => {
      const { body } = await herald.get<Stored>(
        "/apis/eventing.knative.dev/v1/namespaces/default/triggers/sql",
      );
      return body.status.conditions?.find((c) => c.type === "Ready")?.status === "True";
    });
    const url = brokerUrl("dialects");
    assert.equal(
      await postEvent(url, { id: "big", type: "com.shop.order", extensions: { amount: "250" } }),
      202,
    );
    assert.equal(
      await postEvent(url, { id: "small", type: "com.shop.order", extensions: { amount: "5" } }),
      202,
    );
    assert.equal(await postEvent(url, { id: "legacy", type: "x", source: "/legacy" }), 202);
    assert.equal(await postEvent(url, { id: "test", type: "com.shop.test" }), 202);
    await eventually(() => prefixed.requests.length === 3);
    await eventually(() => sql.requests.length === 1);
    assert.deepEqual(prefixed.requests.map((r) => r.headers["ce-id"]).sort(), ["big", "legacy", "small"]);
    assert.equal(sql.requests[0]!.headers["ce-id"], "big");
  });

  it("rejects an invalid CESQL expression at apply with the parser's message", async () => {
    const response = await fetch(`${herald.url}/apply`, {
      method: "POST",
      headers: { "content-type": "application/yaml" },
      body: trigger("broken", "default", "http://127.0.0.1:1/", '  filters:\n    - cesql: "type = "'),
    });
    assert.equal(response.status, 422);
    assert.match(await response.text(), /spec\.filters\[0\]\.cesql/);
  });

  it("sends a trigger's reply back into the broker, where it matches another trigger", async () => {
    const processor = await receiver(() => ({
      status: 200,
      headers: {
        "ce-specversion": "1.0",
        "ce-id": "r-1",
        "ce-type": "order.processed",
        "ce-source": "/processor",
      },
    }));
    const audit = await receiver();
    await herald.apply(
      [
        "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: { name: replies }\n",
        trigger("processor", "replies", processor.url, "  filter: { attributes: { type: order.placed } }"),
        trigger("audit", "replies", audit.url, "  filter: { attributes: { type: order.processed } }"),
      ].join("---\n"),
    );
    await eventually(async () => {
      const { body } = await herald.get<Stored>(
        "/apis/eventing.knative.dev/v1/namespaces/default/triggers/audit",
      );
      return body.status.conditions?.find((c) => c.type === "Ready")?.status === "True";
    });
    assert.equal(await postEvent(brokerUrl("replies"), { type: "order.placed" }), 202);
    const reply = await eventually(() => audit.requests[0]);
    assert.equal(reply.headers["ce-type"], "order.processed");
    assert.equal(reply.headers["ce-knativebrokerttl"], "254");
  });

  it("cuts off a reply loop with the hop count", async () => {
    // A subscriber that answers every event with an event the same trigger matches: a loop.
    const looping = await receiver((request) => ({
      status: 200,
      headers: {
        "ce-specversion": "1.0",
        "ce-id": `${String(request.headers["ce-id"])}+`,
        "ce-type": "loop",
        "ce-source": "/loop",
      },
    }));
    await herald.apply(
      [
        "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: { name: loop }\n",
        trigger("loop", "loop", looping.url, "  filter: { attributes: { type: loop } }"),
      ].join("---\n"),
    );
    await eventually(async () => {
      const { body } = await herald.get<Stored>(
        "/apis/eventing.knative.dev/v1/namespaces/default/triggers/loop",
      );
      return body.status.conditions?.find((c) => c.type === "Ready")?.status === "True";
    });
    assert.equal(
      await postEvent(brokerUrl("loop"), { type: "loop", extensions: { knativebrokerttl: "5" } }),
      202,
    );
    await eventually(() => looping.requests.length === 5);
    const count = looping.requests.length;
    // The loop has ended: a later event still flows, and the looping one did not come back.
    assert.equal(
      await postEvent(brokerUrl("loop"), {
        id: "after",
        type: "loop",
        extensions: { knativebrokerttl: "1" },
      }),
      202,
    );
    await eventually(() => looping.requests.some((r) => r.headers["ce-id"] === "after"));
    assert.equal(looping.requests.length, count + 1);
    assert.deepEqual(
      looping.requests.slice(0, 5).map((r) => r.headers["ce-knativebrokerttl"]),
      ["5", "4", "3", "2", "1"],
    );
  });

  it("keeps a Trigger not Ready while its broker is missing", async () => {
    const [applied] = (await herald.apply(
      trigger("orphan", "nowhere", "http://127.0.0.1:1/", ""),
    )) as unknown as Stored[];
    const ready = applied!.status.conditions?.find((c) => c.type === "Ready");
    assert.equal(ready?.status, "False");
    assert.equal(ready?.reason, "BrokerDoesNotExist");
  });
});
