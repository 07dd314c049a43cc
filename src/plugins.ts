import { z } from "zod";
import type { ChannelPlugin } from "../adapters/adapter.js";
import type { TopologyKind } from "../adapters/topology-kind.js";
import type { SourceFactory } from "../sources/source.js";
import type { ConfigSlice } from "./config-slice.js";
import type { ChannelTemplate } from "./control/brokers.js";
import { brokerConfigKinds } from "./resources/broker-configs.js";
import { ceOverridesSchema, destinationSchema } from "./resources/common.js";
import { apiVersionOf, channelable, definitionOf, KindRegistry } from "./resources/kinds.js";
import { strictSchema } from "./resources/strict.js";
import { validateTriggerFilter } from "./filters/trigger-filter.js";

/** What one Herald instance runs besides its core kinds: channel backends and source kinds. */
export interface HeraldPlugins {
  readonly channels: readonly ChannelPlugin[];
  readonly sources: readonly SourceFactory[];
}

/**
 * The kinds of one instance: the core kinds, each backend's channel kind and each source kind. A
 * plug-in's spec schema is made strict at every depth here, as the core kinds' are, so a field a
 * user misspells is refused with its path whichever plug-in serves the kind.
 */
export function kindsOf(plugins: HeraldPlugins): KindRegistry {
  return new KindRegistry([
    ...brokerConfigKinds.map((definition) => ({
      ...definition,
      specSchema: strictSchema(definition.specSchema),
    })),
    ...plugins.channels.map((plugin) =>
      definitionOf(plugin.kind, "backing-channel", strictSchema(channelable(plugin.specSchema))),
    ),
    ...topologyKindsOf(plugins).map((kind) => ({
      ...definitionOf(kind, "config", strictSchema(kind.specSchema)),
      immutableFields: kind.immutableFields,
    })),
    ...plugins.sources.map((source) =>
      definitionOf(
        source,
        "source",
        strictSchema(
          source.specSchema.extend({
            sink: destinationSchema,
            ceOverrides: ceOverridesSchema.optional(),
            ...(source.filters ? { filters: sourceFiltersSchema } : {}),
          }),
        ),
      ),
    ),
  ]);
}

/** The kinds the channel plug-ins declare on their backends (RabbitMQ's Queue...), each plug-in's in order. */
export function topologyKindsOf(plugins: HeraldPlugins): TopologyKind[] {
  return plugins.channels.flatMap((plugin) => plugin.topologyKinds ?? []);
}

/** Knative's SubscriptionsAPI filters on a source (ApiServerSource), checked as a Trigger's are. */
const sourceFiltersSchema = z
  .array(z.record(z.string(), z.unknown()))
  .optional()
  .superRefine((filters, context) => {
    for (const problem of validateTriggerFilter({ filters })) {
      // Problem paths read `spec.filters[0].cesql`; the issue's path is relative to `filters`.
      const path = problem.path
        .replace(/^spec\.filters/, "")
        .split(/[.[\]]/)
        .filter(Boolean)
        .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
      context.addIssue({ code: "custom", path, message: problem.message });
    }
  });

/** Every configuration slice the plug-ins declare, once each (a source may read a backend's). */
export function configSlicesOf(plugins: HeraldPlugins): ConfigSlice[] {
  const slices = new Map<string, ConfigSlice>();
  const all = [
    ...plugins.channels.flatMap((plugin) => (plugin.config ? [plugin.config] : [])),
    ...plugins.sources.flatMap((source) => source.config ?? []),
  ];
  for (const slice of all) {
    const known = slices.get(slice.key);
    if (known && known !== slice) throw new Error(`two plug-ins declare the configuration key ${slice.key}`);
    slices.set(slice.key, slice);
  }
  return [...slices.values()];
}

/** Broker class → the channel kind its Brokers run on. */
export function brokerClassesOf(plugins: HeraldPlugins): Map<string, ChannelTemplate> {
  const classes = new Map<string, ChannelTemplate>();
  for (const plugin of plugins.channels) {
    for (const name of plugin.brokerClasses ?? []) {
      if (classes.has(name)) throw new Error(`two channel plug-ins serve the broker class ${name}`);
      classes.set(name, { apiVersion: apiVersionOf(plugin.kind), kind: plugin.kind.kind });
    }
  }
  return classes;
}
