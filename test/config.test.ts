import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { kafkaConfig } from "../adapters/kafka/config.js";
import { pubsubConfig } from "../adapters/pubsub/config.js";
import {
  cliEnvironment,
  ConfigError,
  loadConfig,
  publicBaseUrl,
  sliceOf,
  type HeraldConfigInput,
} from "../src/config.js";
import { defaultPlugins } from "../src/default-plugins.js";
import { configSlicesOf } from "../src/plugins.js";

const slices = configSlicesOf(defaultPlugins);
const load = (flags: HeraldConfigInput | Record<string, unknown>, env: Record<string, string>) =>
  loadConfig(flags, env, slices);

describe("configuration", () => {
  it("has defaults that run Herald on the embedded channel", () => {
    const config = load({}, {});
    assert.equal(config.port, 8080);
    assert.equal(config.dataDir, ".herald");
    assert.equal(config.defaultChannelKind, "LogChannel");
    assert.deepEqual(sliceOf(config, kafkaConfig).bootstrapServers, ["127.0.0.1:9092"]);
  });

  it("reads environment variables, and flags win over them", () => {
    const env = {
      HERALD_PORT: "9000",
      HERALD_DATA_DIR: "/var/herald",
      HERALD_KAFKA_BOOTSTRAP_SERVERS: "a:1, b:2",
      PUBSUB_EMULATOR_HOST: "127.0.0.1:8085",
      HERALD_PUBLISH_TIMEOUT_MS: "2500",
      HERALD_TRACING_ENDPOINT: "http://127.0.0.1:4318/v1/traces",
      HERALD_KAFKA_SASL_MECHANISM: "scram-sha-512",
      HERALD_KAFKA_SASL_USERNAME: "herald",
      HERALD_KAFKA_SASL_PASSWORD: "secret",
    };
    const config = load({ port: "9100" }, env);
    assert.equal(config.port, 9100);
    assert.equal(config.dataDir, "/var/herald");
    assert.deepEqual(sliceOf(config, kafkaConfig).bootstrapServers, ["a:1", "b:2"]);
    assert.equal(sliceOf(config, pubsubConfig).emulatorHost, "127.0.0.1:8085");
    assert.equal(config.publishTimeoutMs, 2500);
    assert.equal(config.tracing.endpoint, "http://127.0.0.1:4318/v1/traces");
    assert.deepEqual(sliceOf(config, kafkaConfig).sasl, {
      mechanism: "scram-sha-512",
      username: "herald",
      password: "secret",
    });
  });

  it("reads each plug-in's settings from its own variables, and names them when invalid", () => {
    assert.throws(
      () => load({}, { HERALD_KAFKA_SSL: "maybe" }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.problems.some((p) => p.startsWith("kafka.ssl (HERALD_KAFKA_SSL)")),
    );
  });

  it("names the setting and its variable when a value is invalid", () => {
    assert.throws(
      () => load({}, { HERALD_PORT: "eighty", HERALD_LOG_LEVEL: "loud" }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.ok(
          error.problems.some((p) => p.startsWith("port (HERALD_PORT)")),
          error.message,
        );
        assert.ok(
          error.problems.some((p) => p.startsWith("logLevel (HERALD_LOG_LEVEL)")),
          error.message,
        );
        return true;
      },
    );
  });

  it("builds addresses on the public URL, or on the listening host and port", () => {
    assert.equal(publicBaseUrl(load({ port: 1234 }, {})), "http://127.0.0.1:1234");
    assert.equal(
      publicBaseUrl(load({ host: "0.0.0.0", port: 80, apiPort: 8081 }, {})),
      "http://localhost:80",
    );
    assert.equal(
      publicBaseUrl(load({ publicUrl: "https://events.example.com/" }, {})),
      "https://events.example.com",
    );
  });

  it("finds the CLI's config file under the HOME of the environment it is given, or at HERALD_CONFIG", () => {
    assert.equal(cliEnvironment({ HOME: "/home/ada" }).configFile, "/home/ada/.config/herald/config.yaml");
    const named = cliEnvironment({ HOME: "/home/ada", HERALD_CONFIG: "/etc/herald.yaml" });
    assert.equal(named.configFile, "/etc/herald.yaml");
    assert.equal(named.configFileNamed, true);
  });
});
