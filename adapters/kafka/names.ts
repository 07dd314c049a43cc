/**
 * Kafka names of a KafkaChannel, as Knative's KafkaChannel names things:
 *   topic           knative-messaging-kafka.{namespace}.{channel}
 *   consumer group  knative-messaging-kafka.{namespace}.{channel}.{subscription}
 * A Subscription lives in its channel's namespace, so the group is named after the subscription's
 * namespace and name, never its uid: Herald processes that load the same manifests join one group
 * and share the partitions instead of each delivering every event.
 */
export function topicName(channel: {
  readonly namespace: string;
  readonly name: string;
  readonly spec?: { readonly externalTopic?: string | undefined };
}): string {
  return channel.spec?.externalTopic ?? `knative-messaging-kafka.${channel.namespace}.${channel.name}`;
}

export function groupId(
  channel: { readonly namespace: string; readonly name: string },
  subscription: { readonly name: string },
): string {
  // Named after the channel, also when it runs on an external topic.
  return `knative-messaging-kafka.${channel.namespace}.${channel.name}.${subscription.name}`;
}
