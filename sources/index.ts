/**
 * Every source kind Herald runs, registered as resource kinds with the fields the runtime handles
 * for all of them (`spec.sink`, `spec.ceOverrides`) added to the kind's own spec.
 */
import { z } from "zod";
import { destinationSchema } from "../src/resources/common.js";
import { registerKind } from "../src/resources/kinds.js";
import { githubSource } from "./github/index.js";
import { kafkaSource } from "./kafka/index.js";
import { mqttSource } from "./mqtt/index.js";
import { pingSource } from "./ping/index.js";
import { processSource } from "./process/index.js";
import { cloudPubSubSource } from "./pubsub/index.js";
import { rabbitmqSource } from "./rabbitmq/index.js";
import type { SourceFactory } from "./source.js";

export const sourceFactories: readonly SourceFactory[] = [
  pingSource,
  kafkaSource,
  rabbitmqSource,
  cloudPubSubSource,
  githubSource,
  mqttSource,
  processSource,
] as unknown as SourceFactory[];

/** CloudEvents 1.0 attribute names: lower-case letters and digits. */
const extensionName = /^[a-z0-9]+$/;
const reserved = new Set([
  "specversion",
  "id",
  "source",
  "type",
  "datacontenttype",
  "dataschema",
  "subject",
  "time",
  "data",
  "data_base64",
]);

/** Knative duck/v1 CloudEventOverrides. */
export const ceOverridesSchema = z.object({
  extensions: z
    .record(
      z.string().refine((name) => extensionName.test(name) && !reserved.has(name), {
        message: "must be a CloudEvents extension name (lower-case letters and digits, not a core attribute)",
      }),
      z.string(),
    )
    .optional(),
});

for (const factory of sourceFactories) {
  registerKind({
    group: factory.group,
    versions: factory.versions,
    kind: factory.kind,
    plural: factory.plural,
    shortNames: factory.shortNames,
    role: "source",
    specSchema: factory.specSchema.extend({
      sink: destinationSchema,
      ceOverrides: ceOverridesSchema.optional(),
    }) as unknown as z.ZodType<Record<string, unknown>>,
  });
}
