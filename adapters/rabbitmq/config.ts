import { z } from "zod";
import type { ConfigSlice } from "../../src/config-slice.js";

export const rabbitmqConfigSchema = z.object({
  /** amqp:// URL, may carry credentials; never logged. */
  url: z.string().default("amqp://guest:guest@127.0.0.1:5672"),
  /** A file holding the URL (a mounted secret); wins over `url`. */
  urlFile: z.string().optional(),
});

export type RabbitmqConfig = z.output<typeof rabbitmqConfigSchema>;

/** The `rabbitmq` section of Herald's configuration, shared by RabbitmqChannel and RabbitmqSource. */
export const rabbitmqConfig: ConfigSlice<RabbitmqConfig> = {
  key: "rabbitmq",
  schema: rabbitmqConfigSchema,
  variables: {
    HERALD_RABBITMQ_URL: "url",
    HERALD_RABBITMQ_URL_FILE: "urlFile",
  },
  secretPaths: ["url"],
};
