/**
 * Pub/Sub case: Herald ingress into a PubSubChannel vs the raw @google-cloud/pubsub client with the
 * adapter's publish batching (5 ms), same emulator.
 */
import { PubSub } from "@google-cloud/pubsub";
import { startPubSubEmulator } from "../test/support/pubsub.js";
import { benchBackend } from "./backend.js";
import { EVENT_BODY } from "./support.js";

export async function benchPubSub(options: { durationSeconds: number; connections: number }) {
  const emulator = await startPubSubEmulator();
  try {
    return await benchBackend({
      ...options,
      env: { PUBSUB_EMULATOR_HOST: emulator.host },
      channelTemplate: "    apiVersion: messaging.herald.dev/v1alpha1\n    kind: PubSubChannel\n",
      raw: async () => {
        const client = new PubSub({
          projectId: "herald-bench",
          apiEndpoint: emulator.host,
          emulatorMode: true,
        });
        const [created] = await client.createTopic(`raw-bench-${Date.now()}`);
        // Herald's adapter flushes a batch after 5 ms (the client's default is 10 ms).
        const topic = client.topic(created.name, { batching: { maxMilliseconds: 5 } });
        const data = Buffer.from(EVENT_BODY);
        return {
          publish: async (id) => {
            await topic.publishMessage({
              data,
              attributes: {
                "ce-specversion": "1.0",
                "ce-id": id,
                "ce-type": "dev.herald.bench",
                "ce-source": "/bench",
                "content-type": "application/json",
              },
            });
          },
          close: async () => {
            await topic.delete();
            await client.close();
          },
        };
      },
    });
  } finally {
    await emulator.stop();
  }
}
