import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { loadConfig } from "../../src/config.js";
import { defaultPlugins } from "../../src/default-plugins.js";
import { createHerald, type Herald } from "../../src/herald.js";
import { configSlicesOf } from "../../src/plugins.js";
import { eventually } from "../support/eventually.js";
import { HeraldClient } from "../support/herald.js";

/**
 * sinks.knative.dev/v1alpha1 IntegrationSink: `spec.log` runs in Herald, addressable, writing each
 * event to Herald's log (captured here) as Knative's log-sink connector writes it.
 */
interface LogRecord {
  level: number;
  name?: string;
  marker?: string;
  integrationSink?: string;
  msg: string;
}

interface Status {
  address?: { url: string };
  conditions?: { type: string; status: string }[];
}

/** A Herald in this process whose log lines are kept, at the debug level. */
class LoggedHerald extends HeraldClient {
  readonly records: LogRecord[] = [];
  herald!: Herald;
  get url(): string {
    return this.herald.url;
  }
  override get apiUrl(): string {
    return this.herald.apiUrl;
  }
}

const logSink = (name: string, log: string) => `
apiVersion: sinks.knative.dev/v1alpha1
kind: IntegrationSink
metadata: { name: ${name}, namespace: logs }
spec:
  log: ${log}
`;

/** Knative's IntegrationSink example (`log: { showHeaders: true, level: INFO }`), applied unchanged. */
const LOGGER_DOC = join(
  import.meta.dirname,
  "../../../shared/knative-manifests/knative/docs/docs/versioned/eventing/sinks/integration-sink/logger.md.block0.yaml",
);

const path = (name: string, namespace = "logs") =>
  `/apis/sinks.knative.dev/v1alpha1/namespaces/${namespace}/integrationsinks/${name}`;

describe("IntegrationSink log", () => {
  const client = new LoggedHerald();
  let dataDir: string;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "herald-logsink-"));
    const slices = configSlicesOf(defaultPlugins);
    const config = loadConfig({ port: 0, logLevel: "debug", dataDir }, {}, slices);
    const capture = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split("\n").filter(Boolean))
          client.records.push(JSON.parse(line) as LogRecord);
        done();
      },
    });
    const logger = pino({ level: "debug" }, capture);
    client.herald = await createHerald({ config, logger, plugins: defaultPlugins, resyncMs: 1_000 });
  });
  after(async () => {
    await client.herald.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const readyAddress = (name: string, namespace = "logs") =>
    eventually(async () => {
      const { status } = (await client.get<{ status?: Status }>(path(name, namespace))).body;
      return status?.conditions?.find((c) => c.type === "Ready")?.status === "True" && status.address?.url;
    });

  const post = (url: string, id: string, data: string, extra: Record<string, string> = {}) =>
    fetch(url, {
      method: "POST",
      headers: {
        "ce-specversion": "1.0",
        "ce-id": id,
        "ce-type": "dev.knative.eventing.timer",
        "ce-source": "dev.knative.eventing.timer-source",
        "content-type": "text/plain",
        ...extra,
      },
      body: data,
    });

  it("is addressable and Ready, answers 204 and logs the event at the level asked, with its headers", async () => {
    await client.apply(readFileSync(LOGGER_DOC, "utf8"));
    const url = await readyAddress("integration-log-sink", "knative-samples");
    assert.match(url, /\/sinks\/integrationsinks\/knative-samples\/integration-log-sink$/);
    const { status } = (await client.get<{ status: Status }>(path("integration-log-sink", "knative-samples")))
      .body;
    assert.deepEqual(
      status.conditions?.map((c) => [c.type, c.status]),
      [
        ["Addressable", "True"],
        ["Ready", "True"],
      ],
    );

    const response = await post(url, "log-1", "Hello, Eventing Core");
    assert.equal(response.status, 204);
    const record = await eventually(() => client.records.find((r) => r.msg.includes("ce-id=log-1")));
    assert.equal(record.level, 30, "info");
    assert.equal(record.name, "log-sink");
    assert.equal(record.integrationSink, "knative-samples/integration-log-sink");
    // Knative's connector: multiline, headers, body, no body type nor exchange pattern.
    assert.equal(
      record.msg,
      "Exchange[\n" +
        "  Headers: {ce-id=log-1, ce-source=dev.knative.eventing.timer-source, ce-specversion=1.0, " +
        "ce-type=dev.knative.eventing.timer, content-type=text/plain}\n" +
        "  Body: Hello, Eventing Core\n" +
        "]",
    );
  });

  it("writes the parts asked on one line, under its logger name and marker, masking secrets", async () => {
    await client.apply(
      logSink(
        "one-line",
        "{ level: warn, loggerName: audit, marker: AUDIT, multiline: false, showHeaders: false, " +
          "showBodyType: true, showExchangePattern: true, logMask: true }",
      ),
    );
    const url = await readyAddress("one-line");
    assert.equal((await post(url, "log-2", "user=ann password=hunter2")).status, 204);
    const record = await eventually(() => client.records.find((r) => r.name === "audit"));
    assert.equal(record.level, 40, "warn");
    assert.equal(record.marker, "AUDIT");
    assert.equal(
      record.msg,
      "Exchange[ExchangePattern: InOnly, BodyType: byte[], Body: user=ann password=xxxxxx]",
    );
  });

  it("receives a Trigger's events as a subscriber referenced by kind and name", async () => {
    await client.apply(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: default, namespace: logs }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: to-log, namespace: logs }
spec:
  broker: default
  subscriber:
    ref: { apiVersion: sinks.knative.dev/v1alpha1, kind: IntegrationSink, name: one-line }
`);
    await eventually(async () => {
      const { body } = await client.get<{ status?: Status }>(
        "/apis/eventing.knative.dev/v1/namespaces/logs/triggers/to-log",
      );
      return body.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
    });
    assert.equal((await post(`${client.url}/brokers/logs/default`, "via-broker", "routed")).status, 202);
    await eventually(() => client.records.find((r) => r.msg.includes("Body: routed")), {
      message: "the Trigger's event in the log",
    });
  });

  it("logs nothing at level OFF, and stops answering once deleted", async () => {
    await client.apply(logSink("silent", "{ level: OFF, loggerName: silent }"));
    const url = await readyAddress("silent");
    assert.equal((await post(url, "log-3", "quiet")).status, 204);
    // An event logged after it by another sink: the silent one's line would have come before.
    const loud = await readyAddress("integration-log-sink", "knative-samples");
    assert.equal((await post(loud, "after-3", "loud")).status, 204);
    await eventually(() => client.records.find((r) => r.msg.includes("ce-id=after-3")));
    assert.equal(client.records.filter((r) => r.name === "silent").length, 0);
    assert.equal(await client.delete(path("silent")), 200);
    await eventually(async () => (await post(url, "log-4", "gone")).status === 404);
  });

  it("refuses an unknown field and a level Camel does not have, naming the field", async () => {
    const problems = JSON.parse(
      await client.applyRejected(logSink("typo", "{ showHeader: true, level: LOUD }")),
    ) as { details?: { problems?: { path: string; message: string }[] } };
    assert.deepEqual(problems.details?.problems?.map((p) => `${p.path}: ${p.message}`).sort(), [
      "spec.log.level: must be one of TRACE, DEBUG, INFO, WARN, ERROR, OFF",
      "spec.log.showHeader: unknown field",
    ]);
  });
});
