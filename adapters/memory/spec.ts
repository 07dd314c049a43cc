import { z } from "zod";
import type { KindNames } from "../../src/resources/kind.js";

/**
 * messaging.knative.dev/v1 InMemoryChannel: Knative's in-memory channel. It has no settings of its
 * own (Herald adds Knative's `spec.delivery`); its capacity is a Herald setting (`memory.capacity`).
 *
 * ```yaml
 * apiVersion: messaging.knative.dev/v1
 * kind: InMemoryChannel
 * metadata: { name: orders }
 * ```
 */
export const inMemoryChannelNames: KindNames = {
  group: "messaging.knative.dev",
  versions: ["v1"],
  kind: "InMemoryChannel",
  plural: "inmemorychannels",
  shortNames: ["imc", "inmemorychannel"],
};

export const inMemoryChannelSpecSchema = z.object({});
export type InMemoryChannelSpec = z.output<typeof inMemoryChannelSpecSchema>;
