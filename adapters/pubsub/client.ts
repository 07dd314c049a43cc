import type { ClientConfig } from "@google-cloud/pubsub";
import type { PubSubConfig } from "./config.js";

/**
 * The Pub/Sub client settings of Herald's configuration (the channel adapter and CloudPubSubSource).
 * Credentials come from configuration only: the emulator needs none, otherwise a key file or
 * Application Default Credentials. Neither is ever logged.
 */
export function pubsubClientConfig(
  config: Pick<PubSubConfig, "projectId" | "emulatorHost" | "keyFilename">,
): ClientConfig {
  const options: ClientConfig = {
    projectId: config.projectId,
    ...(config.emulatorHost
      ? {
          apiEndpoint: config.emulatorHost,
          emulatorMode: true,
          // The emulator takes no credentials; naming placeholder ones keeps the auth library
          // from probing for Application Default Credentials (and the GCE metadata server).
          credentials: { client_email: "herald@emulator.invalid", private_key: "unused" },
        }
      : config.keyFilename
        ? { keyFilename: config.keyFilename }
        : {}),
  };
  // Reconnect quickly once the backend is back (gRPC's reconnect backoff otherwise grows to
  // 120 s); the client passes `grpc.*` options through to its channels.
  Object.assign(options, {
    "grpc.initial_reconnect_backoff_ms": 250,
    "grpc.max_reconnect_backoff_ms": 2_000,
  });
  return options;
}
