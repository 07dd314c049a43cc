import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { connectionOptions, natsConfigSchema } from "../../../adapters/nats/config.js";
import { goDurationToMs, natsJetStreamChannelSpecSchema as schema } from "../../../adapters/nats/spec.js";
import {
  channelSubject,
  consumerConfig,
  consumerName,
  pullSettings,
  streamConfig,
  streamName,
} from "../../../adapters/nats/topology.js";
import { problemsFromZod } from "../../../src/resources/validation.js";
import { testSubscription } from "../../support/adapter-fixtures.js";

const channel = (spec: object = {}, name = "orders", namespace = "default") => ({
  namespace,
  name,
  uid: "u",
  spec: schema.parse(spec),
});

/** The problems of a spec as Herald shows them to the user (path: message). */
function problems(spec: unknown): string[] {
  const result = schema.safeParse(spec);
  return result.success
    ? []
    : problemsFromZod(result.error).map((problem) => `${problem.path}: ${problem.message}`);
}

describe("NatsJetStreamChannel spec", () => {
  it("accepts an empty spec and every field Knative users write", () => {
    assert.deepEqual(problems({}), []);
    assert.deepEqual(
      problems({
        stream: {
          overrideName: "ORDERS",
          config: {
            additionalSubjects: ["orders.>", "legacy.*.created"],
            retention: "Interest",
            maxConsumers: 10,
            maxMsgs: 1000,
            maxBytes: -1,
            discard: "New",
            maxAge: "168h",
            maxMsgSize: 65536,
            storage: "Memory",
            replicas: 3,
            noAck: false,
            duplicateWindow: "2m",
            placement: { cluster: "east", tags: ["ssd"] },
            sources: [{ name: "OTHER", optStartSeq: 5, filterSubject: "other.>" }],
          },
        },
        consumerConfigTemplate: {
          deliverPolicy: "ByStartTime",
          optStartTime: "2024-05-01T00:00:00Z",
          ackWait: "1m30s",
          filterSubject: "default.orders._knative",
          replayPolicy: "Original",
          sampleFrequency: "30%",
          maxAckPending: 50,
          consumerType: "Pull",
          fetchMaxWait: "2s",
          fetchBatchSize: 16,
        },
      }),
      [],
    );
  });

  it("refuses the fields Herald cannot honour, each with its reason", () => {
    const cases: Array<[object, RegExp]> = [
      [
        { stream: { config: { mirror: { name: "X" } } } },
        /stream\.config\.mirror: .*mirror stream takes no publishes/,
      ],
      [{ stream: { config: { noAck: true } } }, /stream\.config\.noAck: .*JetStream acknowledgements/],
      [{ consumerConfigTemplate: { consumerType: "Push" } }, /consumerType: .*pull consumer/],
      [{ consumerConfigTemplate: { rateLimitBPS: 1000 } }, /rateLimitBPS: .*push consumers only/],
      [{ consumerConfigTemplate: { maxDeliver: 3 } }, /maxDeliver: .*spec\.delivery/],
      [
        { deploymentSpecTemplate: { labels: { a: "b" } } },
        /deploymentSpecTemplate: .*no dispatcher Deployment/,
      ],
      [{ subscribers: [{ subscriberUri: "http://x" }] }, /subscribers: .*create a Subscription/],
    ];
    for (const [spec, expected] of cases)
      assert.match(problems(spec).join("\n"), expected, JSON.stringify(spec));
  });

  it("refuses unknown fields and values outside Knative's enums rather than ignoring them", () => {
    assert.match(
      problems({ stream: { config: { maxAgee: "1h" } } }).join(),
      /stream\.config\.maxAgee: unknown field/,
    );
    assert.match(problems({ streem: {} }).join(), /streem/);
    assert.match(
      problems({ stream: { config: { retention: "limits" } } }).join(),
      /retention: .*"Limits", "Interest",? (or )?"Work"/,
    );
    assert.match(
      problems({ stream: { config: { storage: "Disk" } } }).join(),
      /storage: .*"File",? (or )?"Memory"/,
    );
    assert.match(problems({ stream: { config: { replicas: 7 } } }).join(), /replicas: must be <= 5/);
    assert.match(problems({ stream: { overrideName: "a.b" } }).join(), /overrideName: must not contain/);
    assert.match(problems({ stream: { config: { additionalSubjects: ["a..b"] } } }).join(), /NATS subject/);
    assert.match(problems({ consumerConfigTemplate: { sampleFrequency: "101" } }).join(), /percentage/);
    assert.match(
      problems({ consumerConfigTemplate: { maxAckPending: 0 } }).join(),
      /-1 \(unlimited\) or >= 1/,
    );
  });

  it("reads durations as Go durations, as Kubernetes writes metav1.Duration", () => {
    assert.equal(goDurationToMs("1h30m"), 5_400_000);
    assert.equal(goDurationToMs("1.5s"), 1_500);
    assert.equal(goDurationToMs("300ms"), 300);
    assert.equal(goDurationToMs("2h45m30.5s"), 9_930_500);
    assert.equal(goDurationToMs("1500us"), 1.5);
    assert.equal(goDurationToMs("0"), 0);
    for (const invalid of ["PT1H", "1d", "-1s", "5", "", "1h 30m"])
      assert.equal(goDurationToMs(invalid), undefined, invalid);
    assert.match(problems({ stream: { config: { maxAge: "P7D" } } }).join(), /maxAge: must be a Go duration/);
    assert.match(
      problems({ consumerConfigTemplate: { ackWait: "500ms" } }).join(),
      /ackWait: must be at least 1s/,
    );
    assert.match(
      problems({ consumerConfigTemplate: { fetchMaxWait: "200ms" } }).join(),
      /fetchMaxWait: must be at least 1s/,
    );
  });

  it("requires optStartSeq/optStartTime exactly with their deliver policies", () => {
    assert.match(
      problems({ consumerConfigTemplate: { deliverPolicy: "ByStartSequence" } }).join(),
      /optStartSeq: is required/,
    );
    assert.match(
      problems({ consumerConfigTemplate: { optStartSeq: 3 } }).join(),
      /optStartSeq: applies only/,
    );
    assert.match(
      problems({ consumerConfigTemplate: { deliverPolicy: "ByStartTime" } }).join(),
      /optStartTime: is required/,
    );
    assert.match(
      problems({
        consumerConfigTemplate: { deliverPolicy: "All", optStartTime: "2024-05-01T00:00:00Z" },
      }).join(),
      /optStartTime: applies only/,
    );
    assert.match(
      problems({
        consumerConfigTemplate: { deliverPolicy: "ByStartTime", optStartTime: "yesterday" },
      }).join(),
      /RFC 3339/,
    );
  });

  it("keeps what the user wrote, so a stored spec parses again to itself", () => {
    const spec = { stream: { config: { maxAge: "1h30m" } }, consumerConfigTemplate: { ackWait: "45s" } };
    assert.deepEqual(schema.parse(spec), spec);
    assert.deepEqual(schema.parse(schema.parse(spec)), spec);
  });
});

describe("NatsJetStreamChannel topology", () => {
  it("names the stream KN_{NAMESPACE}__{NAME} and the subject {namespace}.{name}._knative, as Knative does", () => {
    assert.equal(
      streamName(channel({}, "my-channel", "knative-eventing")),
      "KN_KNATIVE_EVENTING__MY_CHANNEL",
    );
    assert.equal(
      channelSubject(channel({}, "my-channel", "knative-eventing")),
      "knative-eventing.my-channel._knative",
    );
    assert.equal(streamName(channel({ stream: { overrideName: "ORDERS" } })), "ORDERS");
  });

  it("derives valid, distinct stream names for dotted names and namespaces with --", () => {
    const names = [
      streamName(channel({}, "a.b")),
      streamName(channel({}, "a-b")),
      streamName(channel({}, "c", "x--a")),
      streamName(channel({}, "a--c", "x")),
      streamName(channel({}, "a.c", "x")),
      streamName(channel({}, "a-c", "x")),
      streamName(channel({}, "a-c", "x--b")),
      streamName(channel({}, "b--a-c", "x")),
    ];
    assert.equal(new Set(names).size, names.length, names.join(", "));
    for (const name of names) assert.match(name, /^[A-Za-z0-9_-]+$/);
    assert.equal(names[0], "KN_DEFAULT__A-B");
  });

  it("names the durable consumer after the subscription's namespace and name, never its uid", () => {
    const first = testSubscription("order-audit");
    const second = testSubscription("order-audit");
    assert.notEqual(first.uid, second.uid);
    assert.equal(consumerName(first), "DEFAULT__ORDER_AUDIT");
    assert.equal(consumerName(second), consumerName(first));
  });

  it("builds the whole stream configuration, JetStream's defaults filled in", () => {
    assert.deepEqual(streamConfig(channel()), {
      name: "KN_DEFAULT__ORDERS",
      subjects: ["default.orders._knative"],
      retention: "limits",
      max_consumers: -1,
      max_msgs: -1,
      max_bytes: -1,
      discard: "old",
      max_age: 0,
      max_msg_size: -1,
      storage: "file",
      num_replicas: 1,
      no_ack: false,
      duplicate_window: 120_000_000_000,
      sources: [],
    });
    const custom = streamConfig(
      channel({
        stream: {
          config: {
            additionalSubjects: ["legacy.>"],
            retention: "Work",
            maxMsgs: 10,
            discard: "New",
            maxAge: "30s",
            storage: "Memory",
            replicas: 3,
            placement: { tags: ["ssd"] },
            sources: [{ name: "OTHER", optStartTime: "2024-05-01T00:00:00Z" }],
          },
        },
      }),
    );
    assert.deepEqual(custom.subjects, ["default.orders._knative", "legacy.>"]);
    assert.equal(custom.retention, "workqueue");
    assert.equal(custom.max_msgs, 10);
    assert.equal(custom.discard, "new");
    assert.equal(custom.max_age, 30_000_000_000);
    assert.equal(custom.duplicate_window, 30_000_000_000, "never longer than maxAge");
    assert.equal(custom.storage, "memory");
    assert.equal(custom.num_replicas, 3);
    assert.deepEqual(custom.placement, { cluster: "", tags: ["ssd"] });
    assert.deepEqual(custom.sources, [{ name: "OTHER", opt_start_time: "2024-05-01T00:00:00Z" }]);
  });

  it("gives ordered subscriptions one outstanding message and unordered ones the template's bound", () => {
    const spec = { consumerConfigTemplate: { maxAckPending: 50, ackWait: "1m", deliverPolicy: "All" } };
    const ordered = consumerConfig(channel(spec), testSubscription("s", "ordered"));
    const unordered = consumerConfig(channel(spec), testSubscription("s", "unordered", 20));
    assert.equal(ordered.max_ack_pending, 1);
    assert.equal(unordered.max_ack_pending, 50);
    assert.equal(unordered.ack_policy, "explicit");
    assert.equal(unordered.deliver_policy, "all");
    assert.equal(unordered.ack_wait, 60_000_000_000);
    assert.equal(unordered.max_deliver, -1);
    assert.equal(unordered.durable_name, "DEFAULT__S");
    assert.equal(consumerConfig(channel(), testSubscription("s")).deliver_policy, "new");
  });

  it("pulls at most the free handler slots, and no more than fetchBatchSize", () => {
    assert.deepEqual(pullSettings(channel(), testSubscription("s", "ordered")), {
      slots: 1,
      batch: 1,
      expiresMs: 5_000,
      ackWaitMs: 30_000,
    });
    const spec = { consumerConfigTemplate: { fetchBatchSize: 8, fetchMaxWait: "2s", ackWait: "10s" } };
    assert.deepEqual(pullSettings(channel(spec), testSubscription("s", "unordered", 20)), {
      slots: 20,
      batch: 8,
      expiresMs: 2_000,
      ackWaitMs: 10_000,
    });
  });
});

describe("nats configuration slice", () => {
  it("defaults to the local server, keeping streams off", () => {
    assert.deepEqual(natsConfigSchema.parse({}), {
      url: "nats://127.0.0.1:4222",
      keepStreamsOnDelete: false,
    });
  });

  it("reads credentials and a comma-separated server list", () => {
    const settings = natsConfigSchema.parse({
      url: "nats://a:4222, nats://b:4222",
      user: "herald",
      password: "secret",
      keepStreamsOnDelete: "true",
    });
    assert.equal(settings.keepStreamsOnDelete, true);
    assert.deepEqual(connectionOptions(settings), {
      servers: ["nats://a:4222", "nats://b:4222"],
      name: "herald",
      user: "herald",
      pass: "secret",
    });
    assert.deepEqual(connectionOptions(natsConfigSchema.parse({ token: "t" })).token, "t");
  });

  it("refuses a password without a user, and a token with a user", () => {
    assert.equal(natsConfigSchema.safeParse({ password: "p" }).success, false);
    assert.equal(natsConfigSchema.safeParse({ user: "u", token: "t" }).success, false);
  });
});
