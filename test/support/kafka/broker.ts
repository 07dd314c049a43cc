/**
 * A real single-node Apache Kafka (KRaft, broker + controller in one JVM) for development and
 * tests, run from the jars Maven fetches with test/support/kafka/pom.xml into .kafka/libs.
 *
 *   npm run kafka     # runs one on 127.0.0.1:9092 in the foreground until Ctrl-C
 *
 * Kafka 3.9: the last line that still speaks every protocol version kafkajs 2.2 uses (4.0
 * removed the old ones), and KRaft-only setups work without ZooKeeper.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Kafka, logLevel } from "kafkajs";
import { eventually } from "../eventually.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../../..");
const libs = join(root, ".kafka", "libs");

/** Fetches the broker's jars once (Maven Central); later runs reuse .kafka/libs. */
export function ensureKafkaJars(): void {
  if (existsSync(join(libs, "kafka_2.13-3.9.1.jar"))) return;
  mkdirSync(libs, { recursive: true });
  const result = spawnSync(
    "mvn",
    ["-q", "-B", "-f", join(here, "pom.xml"), "dependency:copy-dependencies", `-DoutputDirectory=${libs}`],
    {
      stdio: "inherit",
    },
  );
  if (result.status !== 0) throw new Error(`fetching Kafka with Maven failed (exit ${result.status})`);
}

export async function isKafkaReady(bootstrap: string): Promise<boolean> {
  const admin = new Kafka({
    clientId: "herald-test-probe",
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 1_000,
  }).admin();
  try {
    await admin.connect();
    await admin.describeCluster();
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export interface KafkaBroker {
  readonly bootstrap: string;
  /** Stops the JVM (SIGTERM, SIGKILL after a deadline); the data folder stays for `start()`. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data folder, and waits until it answers. */
  start(): Promise<void>;
  /** Stops it and removes its data folder. */
  destroy(): Promise<void>;
}

export async function startKafka(port = 9092): Promise<KafkaBroker> {
  ensureKafkaJars();
  const dir = mkdtempSync(join(tmpdir(), "herald-kafka-"));
  const controllerPort = port + 1;
  const bootstrap = `127.0.0.1:${port}`;
  const properties = join(dir, "server.properties");
  writeFileSync(
    properties,
    [
      "process.roles=broker,controller",
      "node.id=1",
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://${bootstrap}`,
      "controller.listener.names=CONTROLLER",
      "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
      `log.dirs=${join(dir, "data")}`,
      "num.partitions=1",
      "offsets.topic.replication.factor=1",
      "offsets.topic.num.partitions=4",
      "transaction.state.log.replication.factor=1",
      "transaction.state.log.min.isr=1",
      "group.initial.rebalance.delay.ms=0",
      "auto.create.topics.enable=false",
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(dir, "log4j.properties"),
    [
      "log4j.rootLogger=WARN, file",
      "log4j.appender.file=org.apache.log4j.FileAppender",
      `log4j.appender.file.File=${join(dir, "kafka.log")}`,
      "log4j.appender.file.layout=org.apache.log4j.PatternLayout",
      "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n",
      "",
    ].join("\n"),
  );
  const classpath = `${libs}/*`;
  const jvm = [
    "-Xms256m",
    "-Xmx512m",
    `-Dlog4j.configuration=file:${join(dir, "log4j.properties")}`,
    "-cp",
    classpath,
  ];
  const clusterId = randomBytes(16).toString("base64url");
  const format = spawnSync(
    "java",
    [...jvm, "kafka.tools.StorageTool", "format", "-t", clusterId, "-c", properties],
    { encoding: "utf8" },
  );
  if (format.status !== 0)
    throw new Error(`formatting Kafka storage failed: ${format.stderr || format.stdout}`);

  let child: ChildProcess | undefined;
  const start = async () => {
    const started = spawn("java", [...jvm, "kafka.Kafka", properties], { stdio: "ignore" });
    child = started;
    const exited = new Promise<never>((_, reject) =>
      started.once("exit", (code) =>
        reject(new Error(`Kafka exited with ${code} during start (log: ${join(dir, "kafka.log")})`)),
      ),
    );
    exited.catch(() => undefined);
    await Promise.race([
      exited,
      eventually(() => isKafkaReady(bootstrap), {
        timeoutMs: 90_000,
        intervalMs: 500,
        message: "Kafka to answer",
      }),
    ]);
  };
  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once("exit", resolve));
    running.kill("SIGTERM");
    const timer = setTimeout(() => running.kill("SIGKILL"), 20_000);
    await exited;
    clearTimeout(timer);
  };
  await start();
  return {
    bootstrap,
    start,
    stop,
    destroy: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const port = Number(process.env.KAFKA_PORT ?? 9092);
  const broker = await startKafka(port);
  process.stdout.write(`Kafka is running at ${broker.bootstrap} (Ctrl-C stops it)\n`);
  const shutdown = () => void broker.destroy().then(() => process.exit(0));
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}
