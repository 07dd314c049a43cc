import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { kafkaConfig } from "../adapters/kafka/config.js";
import { pubsubConfig } from "../adapters/pubsub/config.js";
import { rabbitmqConfig } from "../adapters/rabbitmq/config.js";
import { isLoopbackHost } from "../src/auth/hosts.js";
import { isAuthenticationOn, loadConfig, sliceOf, variablesOf } from "../src/config.js";
import { defaultPlugins } from "../src/default-plugins.js";
import { configSlicesOf, kindsOf } from "../src/plugins.js";
import { parseManifests } from "../src/resources/validation.js";

const slices = configSlicesOf(defaultPlugins);

interface ComposeService {
  environment?: Record<string, string>;
  depends_on?: Record<string, unknown>;
  ports?: string[];
}

/** The variables of the Dockerfile's ENV instructions (`ENV A=1 \` continued lines). */
function dockerfileEnvironment(text: string): Record<string, string> {
  const environment: Record<string, string> = {};
  const instructions = text.replace(/\\\n/g, " ").split("\n");
  for (const line of instructions.filter((l) => l.startsWith("ENV "))) {
    for (const [, name, value] of line.slice(4).matchAll(/([A-Z_][A-Z0-9_]*)=(\S+)/g))
      environment[name!] = value!;
  }
  return environment;
}

/** The variables the CLI reads in the image (the server it talks to), besides the server's. */
const CLI_VARIABLES = ["HERALD_SERVER", "HERALD_TOKEN", "HERALD_CONFIG", "NODE_ENV"];

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

  it("publishes every port on the host's loopback only", () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const port of service.ports ?? [])
        assert.match(port, /^127\.0\.0\.1:\d+:\d+$/, `${name} publishes ${port}`);
    }
  });

  it("keeps Herald's resource API out of reach: on the container's loopback, or behind tokens", () => {
    const config = loadConfig({}, herald.environment ?? {}, slices);
    if (!isAuthenticationOn(config)) {
      assert.ok(config.apiPort !== undefined, "the API has its own port");
      assert.ok(isLoopbackHost(config.apiHost), "the API listens on the container's loopback");
      const published = (herald.ports ?? []).map((port) => Number(port.split(":").at(-1)));
      assert.ok(!published.includes(config.apiPort), "the API port is not published");
    }
  });

  it("builds an image whose settings are valid and keep the API on loopback", () => {
    const environment = dockerfileEnvironment(readFileSync("Dockerfile", "utf8"));
    const variables = variablesOf(slices);
    assert.deepEqual(
      Object.keys(environment).filter((name) => !(name in variables) && !CLI_VARIABLES.includes(name)),
      [],
    );
    const config = loadConfig({}, environment, slices);
    assert.equal(config.host, "0.0.0.0");
    assert.ok(config.apiPort !== undefined && isLoopbackHost(config.apiHost));
    assert.equal(environment.HERALD_SERVER, `http://127.0.0.1:${config.apiPort}`);
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
