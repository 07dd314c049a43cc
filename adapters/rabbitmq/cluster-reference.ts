/**
 * How a `rabbitmqClusterReference` by name resolves (RabbitmqSource; Queue, Exchange, Binding):
 * Herald runs no RabbitMQ cluster, so a rabbitmq.com RabbitmqCluster resource stands for Herald's
 * RabbitMQ connection (HERALD_RABBITMQ_URL), and a reference resolves once the RabbitmqCluster it
 * names exists, in its `namespace` or the referring resource's.
 */
export const RABBITMQ_CLUSTER = { apiVersion: "rabbitmq.com/v1beta1", kind: "RabbitmqCluster" } as const;

/** Throws, saying what to apply, when the referenced RabbitmqCluster does not exist. */
export function requireRabbitmqCluster(
  reference: { readonly name: string; readonly namespace?: string | undefined },
  namespace: string,
  exists: (namespace: string, name: string) => boolean,
): void {
  const at = reference.namespace || namespace;
  if (!exists(at, reference.name))
    throw new Error(
      `spec.rabbitmqClusterReference: RabbitmqCluster ${at}/${reference.name} not found (apply it: ` +
        "a RabbitmqCluster stands for Herald's RabbitMQ connection, HERALD_RABBITMQ_URL)",
    );
}

/** The amqp:// URL `url` with its virtual host replaced by `vhost`. */
export function inVhost(url: string, vhost: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(vhost)}`;
  return parsed.toString();
}
