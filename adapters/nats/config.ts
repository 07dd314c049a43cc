import type { ConnectionOptions } from "@nats-io/transport-node";
import { z } from "zod";
import type { ConfigSlice } from "../../src/config-slice.js";

const booleanish = z.union([
  z.boolean(),
  z.enum(["true", "false", "1", "0"]).transform((value) => value === "true" || value === "1"),
]);

export const natsConfigSchema = z
  .object({
    /**
     * The server(s), comma-separated: `nats://host:4222`. A URL may carry credentials
     * (`nats://user:password@host:4222`), so it is treated as a secret.
     */
    url: z.string().min(1, "must not be empty").default("nats://127.0.0.1:4222"),
    /** User and password, when the server requires them. */
    user: z.string().min(1, "must not be empty").optional(),
    password: z.string().optional(),
    /** An authentication token, instead of a user and password. */
    token: z.string().min(1, "must not be empty").optional(),
    /** Keep a channel's stream when the NatsJetStreamChannel is deleted. */
    keepStreamsOnDelete: booleanish.default(false),
  })
  .superRefine((settings, ctx) => {
    if (settings.password !== undefined && settings.user === undefined)
      ctx.addIssue({ code: "custom", path: ["user"], message: "is required with a password" });
    if (settings.token !== undefined && settings.user !== undefined)
      ctx.addIssue({ code: "custom", path: ["token"], message: "cannot be combined with user and password" });
  });

export type NatsConfig = z.output<typeof natsConfigSchema>;

/** The `nats` section of Herald's configuration. */
export const natsConfig: ConfigSlice<NatsConfig> = {
  key: "nats",
  schema: natsConfigSchema,
  variables: {
    HERALD_NATS_URL: "url",
    HERALD_NATS_USER: "user",
    HERALD_NATS_PASSWORD: "password",
    HERALD_NATS_TOKEN: "token",
    HERALD_NATS_KEEP_STREAMS: "keepStreamsOnDelete",
  },
  secretPaths: ["url", "password", "token"],
};

/** The client's connection options for these settings (reconnection is the connection's own). */
export function connectionOptions(settings: NatsConfig): ConnectionOptions {
  return {
    servers: settings.url
      .split(",")
      .map((server) => server.trim())
      .filter(Boolean),
    name: "herald",
    ...(settings.user !== undefined ? { user: settings.user, pass: settings.password ?? "" } : {}),
    ...(settings.token !== undefined ? { token: settings.token } : {}),
  };
}
