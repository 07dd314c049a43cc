import type { Message, Subscription } from "@google-cloud/pubsub";
import { z } from "zod";
import { pubsubClientConfig } from "../../adapters/pubsub/client.js";
import { pubsubConfig } from "../../adapters/pubsub/config.js";
import { durationSchema } from "../../src/resources/common.js";
import { durationToMs } from "../../src/resources/duration.js";
import type { CloudEvent } from "../../src/events/event.js";
import type { SourceFactory } from "../source.js";
import { InFlight, Reconnector } from "../support.js";

/**
 * events.cloud.google.com/v1 CloudPubSubSource. Herald creates a Pub/Sub subscription on `topic`
 * (`cre-src_{namespace}_{name}_{uid}`, as Knative's GCP sources name it; deleted with the source)
 * and turns each message into Google's Pub/Sub CloudEvent: type
 * `google.cloud.pubsub.topic.v1.messagePublished`, source
 * `//pubsub.googleapis.com/projects/{project}/topics/{topic}`, id the message id, time the publish
 * time, and as JSON data the `MessagePublishedData` (`subscription` and `message` with base64
 * `data`, `attributes`, `messageId`, `publishTime`). A message is acked only after the sink accepted
 * it. Credentials and the emulator come from Herald's configuration.
 */
/** Pub/Sub resource IDs: a letter, then 2-254 of letters, digits and - _ . ~ + %. */
const pubsubId = /^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/;

/**
 * Instead of a topic, `subscription` names an existing Pub/Sub subscription to consume; Herald then
 * neither creates nor deletes it, and takes the topic from it.
 */
const specSchema = z
  .object({
    topic: z.string().regex(pubsubId, "must be a Pub/Sub topic ID").optional(),
    subscription: z.string().regex(pubsubId, "must be a Pub/Sub subscription ID").optional(),
    project: z.string().optional(),
    ackDeadline: durationSchema.optional(),
    retainAckedMessages: z.boolean().default(false),
    retentionDuration: durationSchema.optional(),
  })
  .superRefine((spec, ctx) => {
    if ((spec.topic === undefined) === (spec.subscription === undefined)) {
      ctx.addIssue({ code: "custom", path: ["topic"], message: "set exactly one of topic and subscription" });
    }
  });

export const PUBSUB_EVENT_TYPE = "google.cloud.pubsub.topic.v1.messagePublished";
const DATA_SCHEMA =
  "https://raw.githubusercontent.com/googleapis/google-cloudevents/master/proto/google/events/cloud/pubsub/v1/data.proto";
/** gRPC status codes. */
const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;

function topicSource(project: string, topic: string): string {
  return `//pubsub.googleapis.com/projects/${project}/topics/${topic}`;
}

export function messageToEvent(
  message: Message,
  project: string,
  topic: string,
  subscription: string,
): CloudEvent {
  const publishTime = message.publishTime.toISOString();
  const data = {
    subscription,
    message: {
      data: message.data.toString("base64"),
      ...(Object.keys(message.attributes).length > 0 ? { attributes: message.attributes } : {}),
      messageId: message.id,
      publishTime,
      ...(message.orderingKey ? { orderingKey: message.orderingKey } : {}),
    },
  };
  return {
    attributes: {
      specversion: "1.0",
      id: message.id,
      type: PUBSUB_EVENT_TYPE,
      source: topicSource(project, topic),
      time: publishTime,
      datacontenttype: "application/json",
      dataschema: DATA_SCHEMA,
    },
    data: Buffer.from(JSON.stringify(data)),
  };
}

export const cloudPubSubSource: SourceFactory<typeof specSchema> = {
  group: "events.cloud.google.com",
  versions: ["v1", "v1beta1"],
  kind: "CloudPubSubSource",
  plural: "cloudpubsubsources",
  shortNames: ["cloudpubsubsource", "pubsubsource"],
  specSchema,
  config: [pubsubConfig],
  ceAttributes: (spec) =>
    spec.topic ? [{ type: PUBSUB_EVENT_TYPE, source: topicSource(spec.project ?? "", spec.topic) }] : [],
  async start(spec, context) {
    const settings = context.configOf(pubsubConfig);
    // Loaded when a source starts: the CLI and a Herald without this kind never load the client.
    const { PubSub } = await import("@google-cloud/pubsub");
    const client = new PubSub(pubsubClientConfig(settings));
    const project = spec.project ?? settings.projectId;
    const { namespace, name, uid } = context.resource;
    const subscriptionId = spec.subscription ?? `cre-src_${namespace}_${name}_${uid}`;
    const fullName = `projects/${project}/subscriptions/${subscriptionId}`;
    let topicId = spec.topic ?? "";
    let subscription: Subscription | undefined;
    const inFlight = new InFlight();

    const reconnector = new Reconnector(async () => {
      if (reconnector.stopped) return;
      try {
        const ackDeadlineSeconds = spec.ackDeadline
          ? Math.round(durationToMs(spec.ackDeadline)! / 1000)
          : undefined;
        const retention = spec.retentionDuration
          ? Math.round(durationToMs(spec.retentionDuration)! / 1000)
          : undefined;
        if (spec.subscription) {
          const [metadata] = await client.subscription(fullName).getMetadata();
          topicId =
            String(metadata.topic ?? "")
              .split("/")
              .pop() ?? "";
        } else {
          await client
            .topic(`projects/${project}/topics/${topicId}`)
            .createSubscription(subscriptionId, {
              ...(ackDeadlineSeconds ? { ackDeadlineSeconds } : {}),
              retainAckedMessages: spec.retainAckedMessages,
              ...(retention ? { messageRetentionDuration: { seconds: retention } } : {}),
            })
            .catch((error: { code?: number }) => {
              if (error.code !== ALREADY_EXISTS) throw error;
            });
        }
        const opened = client.subscription(fullName, {
          flowControl: { maxMessages: 100, allowExcessMessages: false },
        });
        subscription = opened;
        opened.on("message", (message: Message) => {
          const work = context.send(messageToEvent(message, project, topicId, fullName)).then(
            () => message.ack(),
            () => message.nack(),
          );
          inFlight.track(work);
        });
        opened.on("error", (error: Error & { code?: number }) => {
          if (subscription !== opened) return;
          subscription = undefined;
          void opened.close().catch(() => undefined);
          retry(
            error.code === NOT_FOUND ? "the topic or subscription is gone; re-creating it" : error.message,
          );
        });
        reconnector.succeeded();
        context.setCondition("Subscribed", "True", undefined, fullName);
      } catch (error) {
        retry((error as Error).message);
      }
    });
    const retry = (why: string) => {
      if (reconnector.stopped) return;
      context.setCondition("Subscribed", "False", "SubscribeFailed", why);
      reconnector.retry();
    };

    context.setCondition("Subscribed", "Unknown", "Subscribing");
    reconnector.start();
    return {
      async stop(reason) {
        reconnector.stop();
        const open = subscription;
        subscription = undefined;
        await open?.close().catch(() => undefined);
        await inFlight.settled();
        if (reason === "deleted" && !spec.subscription && !settings.keepTopologyOnDelete) {
          await client
            .subscription(fullName)
            .delete()
            .catch(() => undefined);
        }
        await client.close().catch(() => undefined);
      },
    };
  },
};
