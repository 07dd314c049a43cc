import { z } from "zod";
import { booleanish, type ConfigSlice } from "../../src/config-slice.js";

export const pubsubConfigSchema = z.object({
  projectId: z.string().default("herald"),
  /** host:port of the Pub/Sub emulator; when set, no credentials are used. */
  emulatorHost: z.string().optional(),
  /** Path of a service-account key file. */
  keyFilename: z.string().optional(),
  /** Keep topics and subscriptions when their PubSubChannel or Subscription is deleted. */
  keepTopologyOnDelete: booleanish.default(false),
});

export type PubSubConfig = z.output<typeof pubsubConfigSchema>;

/** The `pubsub` section of Herald's configuration, shared by PubSubChannel and CloudPubSubSource. */
export const pubsubConfig: ConfigSlice<PubSubConfig> = {
  key: "pubsub",
  schema: pubsubConfigSchema,
  variables: {
    HERALD_PUBSUB_PROJECT: "projectId",
    PUBSUB_EMULATOR_HOST: "emulatorHost",
    GOOGLE_APPLICATION_CREDENTIALS: "keyFilename",
    HERALD_PUBSUB_KEEP_TOPOLOGY: "keepTopologyOnDelete",
  },
  // The key file's path says where the service account's private key lives.
  secretPaths: ["keyFilename"],
};
