import { randomUUID } from "node:crypto";
import { readFile, rm, writeFile } from "node:fs/promises";
import { connect, type Channel, type ChannelModel, type ConsumeMessage } from "amqplib";
import { z } from "zod";
import { fromAmqpMessage } from "../../adapters/rabbitmq/binding.js";
import type { AttributeValue, CloudEvent } from "../../src/events/event.js";
import { deliverySpecSchema } from "../../src/resources/common.js";
import { sourceUri, type SourceFactory } from "../source.js";
import { InFlight, Reconnector } from "../support.js";
import { rabbitmqConfig } from "../../adapters/rabbitmq/config.js";
import {
  inVhost,
  RABBITMQ_CLUSTER,
  requireRabbitmqCluster,
} from "../../adapters/rabbitmq/cluster-reference.js";

/**
 * sources.knative.dev/v1alpha1 RabbitmqSource, with eventing-rabbitmq's fields where they make sense
 * without Kubernetes. The connection is the `uri` key of the Secret named by
 * `rabbitmqClusterReference.connectionSecret` (eventing-rabbitmq's convention), or Herald's
 * `HERALD_RABBITMQ_URL` when no secret is referenced; it is never logged. A reference to a
 * RabbitmqCluster by `name` needs that RabbitmqCluster resource, which stands for `HERALD_RABBITMQ_URL`.
 *
 * `rabbitmqResourcesConfig.queueName` is the queue consumed (default `herald.source.{ns}.{name}`).
 * Unless `predeclared`, the queue is declared durable and, when `exchangeName` is set, bound to that
 * exchange (declared as a durable fanout when it does not exist). `parallelism` is the prefetch:
 * 1 keeps FIFO order. A message is acked only after the sink accepted its event (or, with
 * `delivery`, after its retries ended and the dead-letter sink took it or it was dropped).
 *
 * Deleting the source deletes the queue it declared, and the exchange when the source declared it
 * (remembered in its state file), as eventing-rabbitmq deletes the Queue, Exchange and Binding a
 * source owns; predeclared queues and exchanges that existed before are left as they are.
 *
 * A message that already is a CloudEvent (AMQP binding) is forwarded as it is; any other becomes
 * `dev.knative.rabbitmq.event` from `/apis/v1/namespaces/{ns}/rabbitmqsources/{name}#{queue}`, with
 * the message id as id (a UUID when there is none), subject and `key` extension, as eventing-rabbitmq does.
 */
const specSchema = z.object({
  rabbitmqClusterReference: z
    .object({
      name: z.string().optional(),
      namespace: z.string().optional(),
      connectionSecret: z.object({ name: z.string().min(1, "is required") }).optional(),
    })
    .optional(),
  rabbitmqResourcesConfig: z
    .object({
      exchangeName: z.string().min(1).optional(),
      queueName: z.string().min(1).optional(),
      predeclared: z.boolean().default(false),
      parallelism: z.number().int().min(1, "must be >= 1").max(1000, "must be <= 1000").default(1),
      vhost: z.string().optional(),
    })
    .prefault({}),
  delivery: deliverySpecSchema.optional(),
  /** Names the container of eventing-rabbitmq's adapter Deployment; Herald runs no container. */
  adapterContainerName: z.string().optional(),
});

export const RABBITMQ_EVENT_TYPE = "dev.knative.rabbitmq.event";

function queueOf(spec: z.output<typeof specSchema>, resource: { namespace: string; name: string }): string {
  return spec.rabbitmqResourcesConfig.queueName ?? `herald.source.${resource.namespace}.${resource.name}`;
}

export function messageToEvent(message: ConsumeMessage, source: string): CloudEvent {
  const decoded = fromAmqpMessage(message);
  if (typeof decoded !== "string") return decoded;
  const messageId = message.properties.messageId as string | undefined;
  const attributes: Record<string, AttributeValue> = {
    specversion: "1.0",
    id: messageId || randomUUID(),
    type: RABBITMQ_EVENT_TYPE,
    source,
    datacontenttype: (message.properties.contentType as string | undefined) || "application/json",
  };
  if (messageId) {
    attributes.subject = messageId;
    attributes.key = messageId;
  }
  const timestamp = message.properties.timestamp as number | undefined;
  if (timestamp) attributes.time = new Date(timestamp * 1000).toISOString();
  return { attributes, data: message.content.length > 0 ? message.content : undefined };
}

export const rabbitmqSource: SourceFactory<typeof specSchema> = {
  group: "sources.knative.dev",
  versions: ["v1alpha1"],
  kind: "RabbitmqSource",
  plural: "rabbitmqsources",
  shortNames: ["rabbitmqsource"],
  specSchema,
  config: [rabbitmqConfig],
  ceAttributes: (spec, resource) => [
    {
      type: RABBITMQ_EVENT_TYPE,
      source: `${sourceUri("rabbitmqsources", resource)}#${queueOf(spec, resource)}`,
    },
  ],
  async start(spec, context) {
    const secretName = spec.rabbitmqClusterReference?.connectionSecret?.name;
    const clusterName = spec.rabbitmqClusterReference?.name;
    if (!secretName && clusterName)
      requireRabbitmqCluster(
        { name: clusterName, namespace: spec.rabbitmqClusterReference?.namespace },
        context.resource.namespace,
        (namespace, name) =>
          (
            context.listResources(RABBITMQ_CLUSTER.apiVersion, RABBITMQ_CLUSTER.kind, namespace)?.items ?? []
          ).some((cluster) => cluster.metadata.name === name),
      );
    let url = secretName
      ? context.secret({ name: secretName, key: "uri" })
      : context.configOf(rabbitmqConfig).url;
    const { vhost } = spec.rabbitmqResourcesConfig;
    if (vhost !== undefined) url = inVhost(url, vhost);
    const resources = spec.rabbitmqResourcesConfig;
    const queue = queueOf(spec, context.resource);
    /** Whether this source declared its exchange (and so deletes it with itself), across restarts. */
    let declaredExchange = await readFile(context.stateFile, "utf8").then(
      (text) =>
        (JSON.parse(text) as { declaredExchange?: string }).declaredExchange === resources.exchangeName,
      () => false,
    );
    const source = `${sourceUri("rabbitmqsources", context.resource)}#${queue}`;
    let connection: ChannelModel | undefined;
    const inFlight = new InFlight();

    const declare = async (channel: Channel) => {
      if (resources.predeclared) {
        await channel.checkQueue(queue);
        return;
      }
      await channel.assertQueue(queue, { durable: true });
      if (resources.exchangeName) {
        const exchange = resources.exchangeName;
        // Use the exchange as it is when it exists (whatever its type); declare a fanout otherwise.
        const probe = await connection!.createChannel();
        probe.on("error", () => undefined);
        const exists = await probe.checkExchange(exchange).then(
          () => true,
          () => false,
        );
        if (exists) await probe.close().catch(() => undefined);
        else {
          await channel.assertExchange(exchange, "fanout", { durable: true });
          declaredExchange = true;
          await writeFile(context.stateFile, JSON.stringify({ declaredExchange: exchange }), { mode: 0o600 });
        }
        await channel.bindQueue(queue, exchange, "#");
      }
    };

    const handle = (channel: Channel, message: ConsumeMessage) => {
      const work = context.send(messageToEvent(message, source)).then(
        () => channel.ack(message),
        () => undefined, // stopping: the message stays unacked and RabbitMQ redelivers it
      );
      inFlight.track(work);
    };

    const reconnect = (why: string) => {
      if (reconnector.stopped) return;
      context.setCondition("Connected", "False", "ConnectionFailed", why);
      connection = undefined;
      reconnector.retry();
    };

    const reconnector = new Reconnector(async () => {
      if (reconnector.stopped) return;
      try {
        const opened = await connect(url);
        connection = opened;
        opened.on("error", () => undefined);
        opened.on("close", () => {
          if (connection === opened) reconnect("the connection to RabbitMQ closed");
        });
        const channel = await opened.createChannel();
        channel.on("error", () => undefined);
        await declare(channel);
        await channel.prefetch(resources.parallelism);
        await channel.consume(queue, (message) => {
          if (message) handle(channel, message);
          else if (connection === opened) void opened.close().catch(() => undefined); // queue deleted
        });
        reconnector.succeeded();
        context.setCondition("Connected", "True");
      } catch (error) {
        const message = (error as Error).message.replace(/\/\/[^@/]*@/, "//***@");
        const failed = connection;
        connection = undefined;
        await failed?.close().catch(() => undefined);
        reconnect(message);
      }
    });

    context.setCondition("Connected", "Unknown", "Connecting");
    reconnector.start();
    /** Deletes the queue and, when the source declared it, the exchange; logs what fails. */
    const removeTopology = async () => {
      if (resources.predeclared) return;
      let opened: ChannelModel | undefined;
      try {
        opened = await connect(url);
        opened.on("error", () => undefined);
        const channel = await opened.createChannel();
        channel.on("error", () => undefined);
        await channel.deleteQueue(queue);
        if (declaredExchange && resources.exchangeName) await channel.deleteExchange(resources.exchangeName);
        await rm(context.stateFile, { force: true });
      } catch (error) {
        const message = (error as Error).message.replace(/\/\/[^@/]*@/, "//***@");
        context.logger.warn({ queue, err: message }, "could not delete the source's queue and exchange");
      } finally {
        await opened?.close().catch(() => undefined);
      }
    };

    return {
      async stop(reason) {
        reconnector.stop();
        await inFlight.settled();
        const open = connection;
        connection = undefined;
        await open?.close().catch(() => undefined);
        if (reason === "deleted") await removeTopology();
      },
    };
  },
};
