import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { kafkaConfig } from "../adapters/kafka/config.js";
import { pubsubConfig } from "../adapters/pubsub/config.js";
import { rabbitmqConfig } from "../adapters/rabbitmq/config.js";
import { loadConfig, sliceOf, variablesOf } from "../src/config.js";
import { defaultPlugins } from "../src/default-plugins.js";
import { configSlicesOf, kindsOf } from "../src/plugins.js";
import { parseManifests } from "../src/resources/validation.js";

const slices = configSlicesOf(defaultPlugins);

interface ComposeService {
  environment?: Record<string, string>;
  depends_on?: Record<string, unknown>;
}

describe("deployment files", () => {
  const compose = parse(readFileSync("docker-compose.yml", "utf8")) as {
    services: Record<string, ComposeService>;
  };
  const herald = compose.services.herald!;

  it("configures the Herald service only with variables Herald reads, and valid values", () => {
    const environment = herald.environment ?? {};
    const variables = variablesOf(slices);
    const unknown = Object.keys(environment).filter((name) => !(name in variables));
    assert.deepEqual(unknown, []);
    const config = loadConfig({}, environment, slices);
    assert.deepEqual(sliceOf(config, kafkaConfig).bootstrapServers, ["kafka:9092"]);
    assert.equal(sliceOf(config, rabbitmqConfig).url, "amqp://guest:guest@rabbitmq:5672");
    assert.equal(sliceOf(config, pubsubConfig).emulatorHost, "pubsub:8085");
  });

  it("runs every backend Herald is wired to beside it", () => {
    for (const backend of ["kafka", "rabbitmq", "pubsub", "nats"]) {
      assert.ok(compose.services[backend], `service ${backend}`);
      assert.ok(herald.depends_on?.[backend], `herald depends on ${backend}`);
    }
  });

  it("documents every variable Herald reads in the README's configuration table", () => {
    const readme = readFileSync("README.md", "utf8");
    const table = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("## Architecture"));
    const missing = Object.keys(variablesOf(slices)).filter((name) => !table.includes(`\`${name}\``));
    assert.deepEqual(missing, []);
  });

  it("ships manifests in config/ that validate", () => {
    const files = readdirSync("config").filter((name) => name.endsWith(".yaml"));
    assert.ok(files.length > 0);
    for (const file of files) {
      const manifests = parseManifests(kindsOf(defaultPlugins), readFileSync(`config/${file}`, "utf8"), file);
      assert.ok(manifests.length > 0, file);
    }
  });
});
