import { randomUUID } from "node:crypto";
import type { IClientOptions, IPublishPacket, MqttClient } from "mqtt";
import { z } from "zod";
import type { AttributeValue, CloudEvent } from "../../src/events/event.js";
import { fromStructuredJson } from "../../src/events/http.js";
import { validateAttributes } from "../../src/events/validate.js";
import { secretKeySelectorSchema, type SourceFactory } from "../source.js";
import { InFlight } from "../support.js";

/**
 * sources.herald.dev/v1alpha1 MqttSource: subscribes to MQTT topics (wildcards `+` and `#` allowed)
 * and turns each message into a CloudEvent. Herald connects with MQTT 5 and a persistent session
 * (clean start off, client id `herald-{uid}` unless set), and acknowledges a QoS 1/2 message only
 * after the sink accepted its event, so the broker redelivers what a sink outage or a restart left.
 *
 * A message that already is a CloudEvent (CloudEvents MQTT binding: structured mode with content
 * type `application/cloudevents+json`, or MQTT 5 binary mode with the attributes as user properties)
 * is forwarded as it is. Any other becomes `dev.herald.mqtt.message` with source
 * `{url}/{topic}`, the topic as subject, the payload as data and the MQTT 5 content type as
 * datacontenttype.
 */
const specSchema = z.object({
  url: z
    .string({ error: "is required" })
    .refine((value) => URL.canParse(value) && /^(mqtts?|wss?|tcp|ssl):$/.test(new URL(value).protocol), {
      message: "must be an MQTT URL such as mqtt://127.0.0.1:1883",
    }),
  topics: z.array(z.string().min(1, "must not be empty")).min(1, "must list at least one topic filter"),
  qos: z.union([z.literal(0), z.literal(1), z.literal(2)], { error: "must be 0, 1 or 2" }).default(1),
  clientId: z.string().max(65535).optional(),
  username: secretKeySelectorSchema.optional(),
  password: secretKeySelectorSchema.optional(),
});

export const MQTT_EVENT_TYPE = "dev.herald.mqtt.message";

function userProperties(packet: IPublishPacket): Record<string, string> {
  const properties = packet.properties?.userProperties ?? {};
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(properties))
    out[name] = Array.isArray(value) ? value[0]! : value;
  return out;
}

export function mqttMessageToEvent(packet: IPublishPacket, url: string): CloudEvent {
  const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
  const contentType = packet.properties?.contentType;
  if (contentType?.startsWith("application/cloudevents+json")) {
    try {
      return fromStructuredJson(JSON.parse(payload.toString("utf8")));
    } catch {
      // not a valid structured event: wrapped below like any other message
    }
  }
  const properties = userProperties(packet);
  if (properties.specversion !== undefined) {
    const attributes: Record<string, AttributeValue> = { ...properties };
    if (contentType) attributes.datacontenttype = contentType;
    if (validateAttributes(attributes).length === 0) {
      return { attributes, data: payload.length > 0 ? payload : undefined };
    }
  }
  const attributes: Record<string, AttributeValue> = {
    specversion: "1.0",
    id: randomUUID(),
    type: MQTT_EVENT_TYPE,
    source: `${url.replace(/\/$/, "")}/${packet.topic}`,
    subject: packet.topic,
    time: new Date().toISOString(),
  };
  if (contentType) attributes.datacontenttype = contentType;
  return { attributes, data: payload.length > 0 ? payload : undefined };
}

export const mqttSource: SourceFactory<typeof specSchema> = {
  group: "sources.herald.dev",
  versions: ["v1alpha1"],
  kind: "MqttSource",
  plural: "mqttsources",
  shortNames: ["mqtt", "mqttsource"],
  specSchema,
  ceAttributes: (spec) =>
    spec.topics.map((topic) => ({
      type: MQTT_EVENT_TYPE,
      source: `${spec.url.replace(/\/$/, "")}/${topic}`,
    })),
  async start(spec, context) {
    const options: IClientOptions = {
      protocolVersion: 5,
      clientId: spec.clientId ?? `herald-${context.resource.uid}`,
      clean: false,
      properties: { sessionExpiryInterval: 24 * 3600 },
      reconnectPeriod: 1_000,
      connectTimeout: 5_000,
      ...(spec.username ? { username: context.secret(spec.username.secretKeyRef) } : {}),
      ...(spec.password ? { password: context.secret(spec.password.secretKeyRef) } : {}),
    };
    // Loaded when a source starts: the CLI and a Herald without this kind never load the client.
    const { connect } = await import("mqtt");
    const client: MqttClient = connect(spec.url, options);
    const inFlight = new InFlight();
    // The acknowledgement (PUBACK/PUBREC) goes out when `done` is called: after the sink accepted.
    client.handleMessage = (packet, done) => {
      const work = context.send(mqttMessageToEvent(packet, spec.url)).then(
        () => done(),
        () => undefined, // stopping: no acknowledgement, the broker redelivers in the next session
      );
      inFlight.track(work);
    };
    client.on("connect", (connack) => {
      if (connack.sessionPresent) {
        context.setCondition("Connected", "True");
        return;
      }
      client.subscribe(spec.topics, { qos: spec.qos }, (error, granted) => {
        const refused = granted?.filter((g) => g.qos === 128) ?? [];
        if (error || refused.length > 0) {
          const why = error?.message ?? `subscription refused for ${refused.map((g) => g.topic).join(", ")}`;
          context.setCondition("Connected", "False", "SubscribeFailed", why);
        } else {
          context.setCondition("Connected", "True");
        }
      });
    });
    client.on("error", (error) =>
      context.setCondition("Connected", "False", "ConnectionFailed", error.message),
    );
    client.on("offline", () =>
      context.setCondition(
        "Connected",
        "False",
        "Offline",
        `cannot reach ${new URL(spec.url).host}; retrying`,
      ),
    );
    context.setCondition("Connected", "Unknown", "Connecting");
    return {
      async stop(reason) {
        if (reason === "deleted") {
          await client.unsubscribeAsync(spec.topics).catch(() => undefined);
        }
        await inFlight.settled();
        await client.endAsync(reason === "deleted").catch(() => undefined);
      },
    };
  },
};
