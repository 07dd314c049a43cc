import { z } from "zod";
import type { KindDefinition } from "./kind.js";

/**
 * The kinds a Broker's `spec.config` may reference besides a ConfigMap, as eventing-rabbitmq
 * defines them. They configure; nothing runs for them on their own.
 */

/** eventing.knative.dev/v1alpha1 RabbitmqBrokerConfig (eventing-rabbitmq). */
export const rabbitmqBrokerConfigSpecSchema = z.object({
  rabbitmqClusterReference: z
    .object({
      name: z.string().min(1, "must not be empty").optional(),
      namespace: z.string().optional(),
      connectionSecret: z
        .object({ name: z.string({ error: "is required" }).min(1, "is required") })
        .optional(),
    })
    .refine((ref) => ref.name !== undefined || ref.connectionSecret !== undefined, {
      message: "needs name or connectionSecret",
    }),
  /** Queue type of the Broker's queues; eventing-rabbitmq's default is quorum. */
  queueType: z.enum(["quorum", "classic"], { error: 'must be "quorum" or "classic"' }).default("quorum"),
});
export type RabbitmqBrokerConfigSpec = z.output<typeof rabbitmqBrokerConfigSpecSchema>;

/**
 * rabbitmq.com/v1beta1 RabbitmqCluster (the RabbitMQ cluster operator). Herald runs no RabbitMQ
 * cluster: a RabbitmqCluster stands for the RabbitMQ Herald is configured with (HERALD_RABBITMQ_URL),
 * so that the RabbitmqBrokerConfigs and RabbitmqSources naming it resolve. Its spec (replicas,
 * resources, override...) describes pods, and is kept as written.
 */
export const rabbitmqClusterSpecSchema = z.looseObject({});

export const rabbitmqBrokerConfigKind = {
  group: "eventing.knative.dev",
  versions: ["v1alpha1"],
  kind: "RabbitmqBrokerConfig",
  plural: "rabbitmqbrokerconfigs",
  shortNames: ["rabbitmqbrokerconfig"],
  role: "config",
  specSchema: rabbitmqBrokerConfigSpecSchema,
} as const satisfies KindDefinition<unknown>;

export const rabbitmqClusterKind = {
  group: "rabbitmq.com",
  versions: ["v1beta1"],
  kind: "RabbitmqCluster",
  plural: "rabbitmqclusters",
  shortNames: ["rmq", "rabbitmqcluster"],
  role: "config",
  specSchema: rabbitmqClusterSpecSchema,
} as const satisfies KindDefinition<unknown>;

/** Every broker configuration kind, for the kind registry. */
export const brokerConfigKinds: readonly KindDefinition[] = [rabbitmqBrokerConfigKind, rabbitmqClusterKind];
