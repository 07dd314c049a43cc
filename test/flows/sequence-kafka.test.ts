// needs: kafka
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { InProcessHerald, postEvent } from "../support/herald.js";
import { startReceiver, type ReceivedRequest, type Receiver } from "../support/receiver.js";

/** A step that replies with the event it got, its type suffixed with the step's name. */
function renaming(name: string): Receiver["respond"] {
  return (request: ReceivedRequest) => ({
    status: 200,
    headers: {
      "ce-specversion": "1.0",
      "ce-id": String(request.headers["ce-id"]),
      "ce-type": `${String(request.headers["ce-type"])}.${name}`,
      "ce-source": "/steps",
      "content-type": "application/json",
    },
    body: request.body,
  });
}

describe("Sequence on KafkaChannels", () => {
  let herald: InProcessHerald;
  let first: Receiver;
  let second: Receiver;
  let reply: Receiver;

  before(async () => {
    herald = await InProcessHerald.start();
    [first, second, reply] = await Promise.all([
      startReceiver(renaming("first")),
      startReceiver(renaming("second")),
      startReceiver(),
    ]);
  });
  after(async () => {
    await herald.close();
    await Promise.all([first.close(), second.close(), reply.close()]);
  });

  it("runs its steps on channels of the channelTemplate's kind, here Kafka topics", async () => {
    const name = `kafka-seq-${Date.now()}`;
    await herald.apply(`
apiVersion: flows.knative.dev/v1
kind: Sequence
metadata:
  name: ${name}
spec:
  channelTemplate:
    apiVersion: messaging.knative.dev/v1beta1
    kind: KafkaChannel
    spec:
      numPartitions: 1
      replicationFactor: 1
  steps:
    - uri: ${first.url}
    - uri: ${second.url}
  reply:
    uri: ${reply.url}
`);
    const status = await eventually(
      async () => {
        const { body } = await herald.get<{
          status?: {
            address?: { url: string };
            conditions?: Array<{ type: string; status: string }>;
            channelStatuses?: Array<{ channel: { kind: string } }>;
          };
        }>(`/apis/flows.knative.dev/v1/namespaces/default/sequences/${name}`);
        return body.status?.conditions?.find((c) => c.type === "Ready")?.status === "True" && body.status;
      },
      { timeoutMs: 60_000 },
    );
    assert.deepEqual(
      status.channelStatuses!.map((c) => c.channel.kind),
      ["KafkaChannel", "KafkaChannel"],
    );
    assert.equal(await postEvent(status.address!.url, { id: "k-1", type: "order" }), 202);
    const received = await eventually(() => reply.requests[0], { timeoutMs: 60_000 });
    assert.equal(received.headers["ce-type"], "order.first.second");
    assert.equal(received.headers["ce-id"], "k-1");
  });
});
