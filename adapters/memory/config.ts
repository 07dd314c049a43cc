import { z } from "zod";
import type { ConfigSlice } from "../../src/config-slice.js";

const positiveInt = z.coerce.number().int().positive();

export const memoryConfigSchema = z
  .object({
    /** Events held per subscription (queued or waiting for redelivery) before publish answers ChannelFull. */
    capacity: positiveInt.default(10_000),
    /**
     * Bytes of events held per subscription (queued, waiting for redelivery or being delivered)
     * before publish answers ChannelFull.
     */
    maxBytes: positiveInt.default(64 * 1024 * 1024),
    /**
     * Bytes of events held by every in-memory channel of this Herald together (an event queued for
     * several subscriptions counts once) before publish answers ChannelFull.
     */
    totalMaxBytes: positiveInt.default(256 * 1024 * 1024),
  })
  .refine((config) => config.totalMaxBytes >= config.maxBytes, {
    path: ["totalMaxBytes"],
    message: "must be at least memory.maxBytes (HERALD_MEMORY_MAX_BYTES)",
  });

export type MemoryConfig = z.output<typeof memoryConfigSchema>;

/** The `memory` section of Herald's configuration. */
export const memoryConfig: ConfigSlice<MemoryConfig> = {
  key: "memory",
  schema: memoryConfigSchema,
  variables: {
    HERALD_MEMORY_CAPACITY: "capacity",
    HERALD_MEMORY_MAX_BYTES: "maxBytes",
    HERALD_MEMORY_TOTAL_MAX_BYTES: "totalMaxBytes",
  },
  secretPaths: [],
};
