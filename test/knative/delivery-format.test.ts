import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { InProcessHerald, postEvent } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/**
 * Knative's DeliverySpec `format`: `json` delivers in structured mode (the JSON event format as the
 * body), `binary` and the default in binary mode; a Broker's format is its Triggers' default.
 */
interface Status {
  status: { conditions?: { type: string; status: string }[] };
}

describe("delivery.format", () => {
  let herald: InProcessHerald;
  let structured: Receiver;
  let binary: Receiver;
  before(async () => {
    herald = await InProcessHerald.start();
    structured = await startReceiver();
    binary = await startReceiver();
  });
  after(async () => {
    await herald.close();
    await structured.close();
    await binary.close();
  });

  it("a Broker with format json delivers structured events to its Triggers; a Trigger's binary wins", async () => {
    await herald.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: formats }
spec: { delivery: { format: json } }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: as-json }
spec: { broker: formats, subscriber: { uri: "${structured.url}" } }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: as-binary }
spec: { broker: formats, subscriber: { uri: "${binary.url}" }, delivery: { format: binary } }
`);
    for (const name of ["as-json", "as-binary"])
      await eventually(async () => {
        const { body } = await herald.get<Status>(
          `/apis/eventing.knative.dev/v1/namespaces/default/triggers/${name}`,
        );
        return body.status.conditions?.find((c) => c.type === "Ready")?.status === "True";
      });
    assert.equal(
      await postEvent(`${herald.url}/brokers/default/formats`, {
        id: "f-1",
        type: "com.example.f",
        data: '{"n":1}',
      }),
      202,
    );
    await eventually(() => structured.requests.length === 1 && binary.requests.length === 1);
    const [json] = structured.requests;
    assert.match(String(json!.headers["content-type"]), /^application\/cloudevents\+json/);
    assert.equal(json!.headers["ce-id"], undefined);
    const event = JSON.parse(json!.body.toString()) as Record<string, unknown>;
    assert.equal(event.id, "f-1");
    assert.equal(event.type, "com.example.f");
    assert.equal(event.specversion, "1.0");
    const [plain] = binary.requests;
    assert.equal(plain!.headers["ce-id"], "f-1");
  });

  it("a format that is neither json nor binary is refused, naming the field", async () => {
    const text = await herald.applyRejected(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: bad-format }
spec: { delivery: { format: xml } }
`);
    assert.match(text, /spec\.delivery\.format/);
  });
});
