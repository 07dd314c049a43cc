import { z } from "zod";
import type { ConfigSlice } from "../../src/config-slice.js";

export const memoryConfigSchema = z.object({
  /** Events held per subscription (queued or waiting for redelivery) before publish answers ChannelFull. */
  capacity: z.coerce.number().int().positive().default(10_000),
});

export type MemoryConfig = z.output<typeof memoryConfigSchema>;

/** The `memory` section of Herald's configuration. */
export const memoryConfig: ConfigSlice<MemoryConfig> = {
  key: "memory",
  schema: memoryConfigSchema,
  variables: { HERALD_MEMORY_CAPACITY: "capacity" },
  secretPaths: [],
};
