import { z } from "zod";

/**
 * The spec schemas of the RabbitMQ messaging topology operator's Queue, Exchange and Binding
 * (rabbitmq.com/v1beta1, its api/v1beta1/*_types.go), with its defaults: `vhost` "/", a Queue
 * `durable` (its defaulting webhook), an Exchange `type` "direct", a Queue `deletionPolicy` "delete".
 */

/** Which RabbitMQ: a RabbitmqCluster by name (it stands for HERALD_RABBITMQ_URL) or a connection Secret. */
export const rabbitmqClusterReferenceSchema = z
  .object(
    {
      name: z.string().optional(),
      namespace: z.string().optional(),
      connectionSecret: z
        .object({ name: z.string({ error: "is required" }).min(1, "is required") })
        .optional(),
    },
    { error: "is required" },
  )
  .refine((ref) => Boolean(ref.name) !== Boolean(ref.connectionSecret), {
    message: "needs name or connectionSecret, not both",
  });
export type RabbitmqClusterReference = z.output<typeof rabbitmqClusterReferenceSchema>;

/** Free-form x-arguments (`x-max-length: 10`), as the operator keeps them. */
const argumentsSchema = z.record(z.string(), z.unknown()).optional();
const vhost = z.string().min(1, "must not be empty").default("/");

export const queueSpecSchema = z
  .object({
    name: z.string({ error: "is required" }).min(1, "is required"),
    vhost,
    type: z.enum(["quorum", "classic", "stream"]).optional(),
    durable: z.boolean().default(true),
    autoDelete: z.boolean().default(false),
    deleteIfEmpty: z.boolean().default(false),
    deleteIfUnused: z.boolean().default(false),
    arguments: argumentsSchema,
    rabbitmqClusterReference: rabbitmqClusterReferenceSchema,
    deletionPolicy: z.enum(["delete", "retain"]).default("delete"),
  })
  .refine((spec) => spec.durable || (spec.type !== "quorum" && spec.type !== "stream"), {
    path: ["durable"],
    message: "must be true for a quorum or stream queue",
  });
export type QueueSpec = z.output<typeof queueSpecSchema>;

export const exchangeSpecSchema = z.object({
  name: z.string({ error: "is required" }).min(1, "is required"),
  vhost,
  type: z.string().min(1, "must not be empty").default("direct"),
  durable: z.boolean().default(false),
  autoDelete: z.boolean().default(false),
  arguments: argumentsSchema,
  rabbitmqClusterReference: rabbitmqClusterReferenceSchema,
});
export type ExchangeSpec = z.output<typeof exchangeSpecSchema>;

export const bindingSpecSchema = z.object({
  vhost,
  source: z.string({ error: "is required" }).min(1, "is required"),
  destination: z.string({ error: "is required" }).min(1, "is required"),
  destinationType: z.enum(["queue", "exchange"]),
  routingKey: z.string().default(""),
  arguments: argumentsSchema,
  rabbitmqClusterReference: rabbitmqClusterReferenceSchema,
});
export type BindingSpec = z.output<typeof bindingSpecSchema>;
