import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { parseSink } from "../../src/cli/create-manifests.js";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";
import { runCli, type CliRun } from "../support/cli.js";

/**
 * `herald create ...`, the kn workflows in one line each: a Broker, a Trigger to a ksvc, a PingSource
 * to the Broker, and the ping reaching the ksvc; a Channel and a Subscription with reply and
 * dead-letter sinks; flags that are wrong are usage errors naming the flag.
 */

function herald(server: string, args: string[]): Promise<CliRun> {
  return runCli(["--server", server, ...args]);
}

describe("herald create", () => {
  let server: InProcessHerald;
  let display: Receiver;
  before(async () => {
    display = await startReceiver();
    // A ksvc answers at the receiver, under its name.
    server = await InProcessHerald.start({ config: { serviceUrlTemplate: `${display.url}{name}` } });
  });
  after(async () => {
    await server.close();
    await display.close();
  });

  it("broker, trigger --sink ksvc:, source ping --sink broker: : the ping reaches the ksvc through the Broker", async () => {
    const steps = [
      ["create", "broker", "default"],
      [
        "create",
        "trigger",
        "pings",
        "--broker",
        "default",
        "--filter",
        "type=dev.knative.sources.ping",
        "--sink",
        "ksvc:event-display",
      ],
      [
        "create",
        "source",
        "ping",
        "heartbeat",
        "--schedule",
        "* * * * * *",
        "--data",
        '{"beat":1}',
        "--sink",
        "broker:default",
      ],
    ];
    for (const args of steps) {
      const run = await herald(server.apiUrl, args);
      assert.equal(run.code, 0, run.stderr);
    }
    const { body } = await server.get<{ spec: Record<string, unknown> }>(
      "/apis/eventing.knative.dev/v1/namespaces/default/triggers/pings",
    );
    assert.deepEqual(body.spec.filter, { attributes: { type: "dev.knative.sources.ping" } });
    assert.deepEqual(body.spec.subscriber, {
      ref: { apiVersion: "serving.knative.dev/v1", kind: "Service", name: "event-display" },
    });
    await eventually(
      () => display.requests.some((r) => r.url === "/event-display" && r.body.toString() === '{"beat":1}'),
      {
        timeoutMs: 20_000,
        message: "a ping at the ksvc",
      },
    );
  });

  it("channel and subscription with reply and dead-letter sinks", async () => {
    assert.equal((await herald(server.apiUrl, ["create", "channel", "orders", "--type", "imc"])).code, 0);
    const run = await herald(server.apiUrl, [
      "create",
      "subscription",
      "orders-sub",
      "--channel",
      "orders",
      "--sink",
      "http://127.0.0.1:9/orders",
      "--sink-reply",
      "broker:default",
      "--sink-dead-letter",
      "svc:dead-letters",
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /subscription\/orders-sub created in namespace default/);
    const { body: channel } = await server.get<{ spec: Record<string, unknown> }>(
      "/apis/messaging.knative.dev/v1/namespaces/default/channels/orders",
    );
    assert.deepEqual(channel.spec.channelTemplate, {
      apiVersion: "messaging.knative.dev/v1",
      kind: "InMemoryChannel",
    });
    const { body } = await server.get<{ spec: Record<string, unknown> }>(
      "/apis/messaging.knative.dev/v1/namespaces/default/subscriptions/orders-sub",
    );
    assert.deepEqual(body.spec, {
      channel: { apiVersion: "messaging.knative.dev/v1", kind: "Channel", name: "orders" },
      subscriber: { uri: "http://127.0.0.1:9/orders" },
      reply: { ref: { apiVersion: "eventing.knative.dev/v1", kind: "Broker", name: "default" } },
      delivery: { deadLetterSink: { ref: { apiVersion: "v1", kind: "Service", name: "dead-letters" } } },
    });
  });

  it("source apiserver --resource Kind:apiVersion:label=value sends the Brokers it selects, with --ce-override", async () => {
    const watcher = await startReceiver();
    try {
      const run = await herald(server.apiUrl, [
        "create",
        "source",
        "apiserver",
        "brokers",
        "--resource",
        "Broker:eventing.knative.dev/v1:team=payments",
        "--mode",
        "Resource",
        "--service-account",
        "events-sa",
        "--ce-override",
        "origin=cli",
        "--sink",
        watcher.url,
      ]);
      assert.equal(run.code, 0, run.stderr);
      const { body } = await server.get<{ spec: Record<string, unknown> }>(
        "/apis/sources.knative.dev/v1/namespaces/default/apiserversources/brokers",
      );
      assert.deepEqual(body.spec.resources, [
        {
          apiVersion: "eventing.knative.dev/v1",
          kind: "Broker",
          selector: { matchLabels: { team: "payments" } },
        },
      ]);
      await server.apply(`apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: payments, labels: { team: payments } }
`);
      await eventually(
        () =>
          watcher.requests.some(
            (r) =>
              r.headers["ce-subject"] === "/apis/eventing.knative.dev/v1/namespaces/default/brokers/payments",
          ),
        {
          message: "the Broker's add",
        },
      );
      const added = watcher.requests.find((r) => String(r.headers["ce-subject"]).endsWith("/payments"))!;
      assert.equal(added.headers["ce-type"], "dev.knative.apiserver.resource.add");
      assert.equal(added.headers["ce-origin"], "cli");
      assert.ok(!watcher.requests.some((r) => String(r.headers["ce-subject"]).endsWith("/brokers/default")));
    } finally {
      await watcher.close();
    }
  });

  it("wrong or missing flags are usage errors (exit 2) naming the flag, and nothing is created", async () => {
    const cases: [string[], RegExp][] = [
      [["create", "trigger", "t1", "--sink", "event-display"], /--sink event-display: must be ksvc:NAME/],
      [["create", "trigger", "t2"], /--sink is required/],
      [
        ["create", "trigger", "t3", "--sink", "ksvc:x", "--filter", "type"],
        /--filter type: must be attribute=value/,
      ],
      [["create", "subscription", "s1", "--sink", "ksvc:x"], /--channel is required/],
      [["create", "channel", "c1", "--type", "carrier-pigeon"], /--type carrier-pigeon: must be imc, kafka/],
      [
        ["create", "source", "ping", "p1", "--sink", "ksvc:x", "--schedule", "often"],
        /--schedule often: must be a cron schedule/,
      ],
      [["create", "broker", "Bad_Name"], /NAME Bad_Name: must be a lowercase RFC 1123 name/],
      [["create", "source", "apiserver", "a1", "--sink", "ksvc:x"], /--resource is required/],
      [
        ["create", "source", "apiserver", "a2", "--sink", "ksvc:x", "--resource", "Broker"],
        /--resource Broker: must be Kind:apiVersion/,
      ],
      [
        [
          "create",
          "source",
          "apiserver",
          "a3",
          "--sink",
          "ksvc:x",
          "--resource",
          "Broker:v1",
          "--mode",
          "full",
        ],
        /--mode full: must be Reference or Resource/,
      ],
      [
        ["create", "source", "ping", "p2", "--sink", "ksvc:x", "--ce-override", "Bad=1"],
        /--ce-override Bad=1: must be key=value/,
      ],
    ];
    for (const [args, message] of cases) {
      const run = await herald(server.apiUrl, args);
      assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
      assert.match(run.stderr, message);
    }
    const { status } = await server.get("/apis/eventing.knative.dev/v1/namespaces/default/triggers/t1");
    assert.equal(status, 404);
  });

  it("parses kn's sink forms", () => {
    assert.deepEqual(parseSink("--sink", "https://example.com/x"), { uri: "https://example.com/x" });
    assert.deepEqual(parseSink("--sink", "channel:orders"), {
      ref: { apiVersion: "messaging.knative.dev/v1", kind: "Channel", name: "orders" },
    });
    assert.throws(() => parseSink("--sink", "ksvc:"), /--sink ksvc:: must be/);
    assert.throws(() => parseSink("--sink", "pod:x"), /--sink pod:x: must be/);
  });
});
