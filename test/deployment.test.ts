import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { environmentVariables, loadConfig } from "../src/config.js";
import "../src/resources/all-kinds.js";
import { parseManifests } from "../src/resources/validation.js";

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
    const unknown = Object.keys(environment).filter((name) => !(name in environmentVariables));
    assert.deepEqual(unknown, []);
    const config = loadConfig({}, environment);
    assert.deepEqual(config.kafka.bootstrapServers, ["kafka:9092"]);
    assert.equal(config.rabbitmq.url, "amqp://guest:guest@rabbitmq:5672");
    assert.equal(config.pubsub.emulatorHost, "pubsub:8085");
  });

  it("runs every backend Herald is wired to beside it", () => {
    for (const backend of ["kafka", "rabbitmq", "pubsub"]) {
      assert.ok(compose.services[backend], `service ${backend}`);
      assert.ok(herald.depends_on?.[backend], `herald depends on ${backend}`);
    }
  });

  it("ships manifests in config/ that validate", () => {
    const files = readdirSync("config").filter((name) => name.endsWith(".yaml"));
    assert.ok(files.length > 0);
    for (const file of files) {
      const manifests = parseManifests(readFileSync(`config/${file}`, "utf8"), file);
      assert.ok(manifests.length > 0, file);
    }
  });
});
