import { z } from "zod";
import type { ConfigSlice } from "../../src/config-slice.js";

export const logConfigSchema = z.object({
  /**
   * Where LogChannel logs live, one folder per channel (`<dir>/<namespace>/<name>`). Unset: the
   * `channels` folder of Herald's data directory.
   */
  dir: z.string().min(1, "must not be empty").optional(),
});

export type LogConfig = z.output<typeof logConfigSchema>;

/** The `log` section of Herald's configuration. */
export const logConfig: ConfigSlice<LogConfig> = {
  key: "log",
  schema: logConfigSchema,
  variables: { HERALD_LOG_DIR: "dir" },
  secretPaths: [],
};
