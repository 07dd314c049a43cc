import { readFileSync } from "node:fs";
import type { Channel, ChannelModel } from "amqplib";
import { defineTopologyKind, type TopologyContext, type TopologyKind } from "../../topology-kind.js";
import { inVhost, RABBITMQ_CLUSTER, requireRabbitmqCluster } from "../cluster-reference.js";
import { rabbitmqConfig } from "../config.js";
import {
  bindingSpecSchema,
  exchangeSpecSchema,
  queueSpecSchema,
  type RabbitmqClusterReference,
} from "./specs.js";

/**
 * rabbitmq.com/v1beta1 Queue, Exchange and Binding, as the RabbitMQ messaging topology operator
 * serves them (eventing-rabbitmq's predeclared setup applies them before a RabbitmqSource with
 * `predeclared: true`), declared with amqplib on Herald's RabbitMQ connection (HERALD_RABBITMQ_URL)
 * in the spec's `vhost`. A `rabbitmqClusterReference` by name resolves as RabbitmqSource's does:
 * the RabbitmqCluster it names stands for that connection and must be applied. A `connectionSecret`
 * holds the operator's HTTP management URI, which Herald does not use: such a resource stays not
 * Ready, saying to reference a RabbitmqCluster by name.
 *
 * Deleting the resource deletes the queue (unless `deletionPolicy: retain`; with `deleteIfEmpty` or
 * `deleteIfUnused` only when empty or unused), the exchange, or the binding, as the operator does.
 * The fields the operator's webhooks refuse to update are immutable here too.
 */

/** The amqp:// URL of the referenced RabbitMQ, in `vhost`; throws saying why there is none. */
function urlOf(
  reference: RabbitmqClusterReference,
  vhost: string,
  target: { namespace: string },
  context: TopologyContext,
): string {
  if (reference.connectionSecret)
    throw new Error(
      "spec.rabbitmqClusterReference.connectionSecret: Herald declares on its own RabbitMQ connection " +
        "(HERALD_RABBITMQ_URL); reference a RabbitmqCluster by name instead",
    );
  requireRabbitmqCluster(
    { name: reference.name!, namespace: reference.namespace },
    target.namespace,
    (namespace, name) => context.exists(RABBITMQ_CLUSTER.apiVersion, RABBITMQ_CLUSTER.kind, namespace, name),
  );
  return connectionUrl(vhost, context);
}

/**
 * Herald's RabbitMQ URL in `vhost`. Removing uses it without the RabbitmqCluster check: deleting a
 * file's RabbitmqCluster with its Queue still deletes the queue Herald declared.
 */
function connectionUrl(vhost: string, context: TopologyContext): string {
  const { url, urlFile } = context.configOf(rabbitmqConfig);
  return inVhost(urlFile ? readFileSync(urlFile, "utf8").trim() : url, vhost);
}

/** How long declaring waits for a connection to RabbitMQ. */
const CONNECT_TIMEOUT_MS = 5_000;

/** Runs `work` on a channel of a connection of its own, closed afterwards; errors without credentials. */
async function onChannel(url: string, work: (channel: Channel) => Promise<unknown>): Promise<void> {
  let connection: ChannelModel | undefined;
  try {
    // Loaded on first use, so a Herald that declares nothing on RabbitMQ never loads amqplib.
    const { connect } = await import("amqplib");
    // A RabbitMQ that does not answer fails the declaration, instead of holding up the reconcile pass.
    connection = await connect(url, { timeout: CONNECT_TIMEOUT_MS });
    connection.on("error", () => undefined);
    const channel = await connection.createChannel();
    channel.on("error", () => undefined);
    await work(channel);
  } catch (error) {
    throw new Error((error as Error).message.replace(/\/\/[^@/]*@/, "//***@"), { cause: error });
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

const operatorNames = (kind: string, plural: string, shortNames: string[]) =>
  ({ group: "rabbitmq.com", versions: ["v1beta1"], kind, plural, shortNames }) as const;

export const queueKind = defineTopologyKind({
  ...operatorNames("Queue", "queues", ["queue"]),
  specSchema: queueSpecSchema,
  immutableFields: [
    "name",
    "vhost",
    "type",
    "durable",
    "autoDelete",
    "arguments",
    "rabbitmqClusterReference",
  ],
  config: [rabbitmqConfig],
  declare: ({ namespace, spec }, context) =>
    onChannel(urlOf(spec.rabbitmqClusterReference, spec.vhost, { namespace }, context), (channel) => {
      const args: Record<string, unknown> = { ...spec.arguments };
      if (spec.type) args["x-queue-type"] = spec.type;
      return channel.assertQueue(spec.name, {
        durable: spec.durable,
        autoDelete: spec.autoDelete,
        arguments: args,
      });
    }),
  remove: async ({ spec }, context) => {
    if (spec.deletionPolicy === "retain") return;
    await onChannel(connectionUrl(spec.vhost, context), (channel) =>
      channel.deleteQueue(spec.name, { ifEmpty: spec.deleteIfEmpty, ifUnused: spec.deleteIfUnused }),
    );
  },
});

export const exchangeKind = defineTopologyKind({
  ...operatorNames("Exchange", "exchanges", ["exchange"]),
  specSchema: exchangeSpecSchema,
  immutableFields: ["name", "vhost", "type", "durable", "autoDelete", "rabbitmqClusterReference"],
  config: [rabbitmqConfig],
  declare: ({ namespace, spec }, context) =>
    onChannel(urlOf(spec.rabbitmqClusterReference, spec.vhost, { namespace }, context), (channel) =>
      channel.assertExchange(spec.name, spec.type, {
        durable: spec.durable,
        autoDelete: spec.autoDelete,
        arguments: spec.arguments,
      }),
    ),
  remove: ({ spec }, context) =>
    onChannel(connectionUrl(spec.vhost, context), (channel) => channel.deleteExchange(spec.name)),
});

export const bindingKind = defineTopologyKind({
  ...operatorNames("Binding", "bindings", ["binding"]),
  specSchema: bindingSpecSchema,
  immutableFields: [
    "vhost",
    "source",
    "destination",
    "destinationType",
    "routingKey",
    "arguments",
    "rabbitmqClusterReference",
  ],
  config: [rabbitmqConfig],
  declare: ({ namespace, spec }, context) =>
    onChannel(urlOf(spec.rabbitmqClusterReference, spec.vhost, { namespace }, context), (channel) =>
      spec.destinationType === "queue"
        ? channel.bindQueue(spec.destination, spec.source, spec.routingKey, spec.arguments)
        : channel.bindExchange(spec.destination, spec.source, spec.routingKey, spec.arguments),
    ),
  remove: ({ spec }, context) =>
    onChannel(connectionUrl(spec.vhost, context), (channel) =>
      spec.destinationType === "queue"
        ? channel.unbindQueue(spec.destination, spec.source, spec.routingKey, spec.arguments)
        : channel.unbindExchange(spec.destination, spec.source, spec.routingKey, spec.arguments),
    ),
});

/** In declaration order: a Binding finds its Exchange and Queue declared in the same pass. */
export const rabbitmqTopologyKinds: readonly TopologyKind[] = [exchangeKind, queueKind, bindingKind];
