/**
 * RabbitMQ PerfTest (com.rabbitmq:perf-test 2.22.1, bench/jvm/perf-test.pom.xml) as the ceiling of
 * the rabbitmq case, on the same server and in Herald's topology: one producer publishing persistent
 * messages of the bench event's body size with publisher confirms (at most 100 unconfirmed) to a
 * durable fanout exchange, a durable quorum queue bound to it, one consumer with Herald's default
 * prefetch (10) acknowledging each message, unthrottled, for the given time.
 */
import { connect } from "amqplib";
import { runJava } from "./jvm.js";
import { parsePerfTest } from "./jvm-output.js";
import { EVENT_BODY } from "./support.js";

export const PERFTEST_CONFIRM_WINDOW = 100;
export const HERALD_DEFAULT_PREFETCH = 10;

export async function perfTest(url: string, seconds: number) {
  const id = `herald-bench-perftest-${Date.now().toString(36)}`;
  const args = [
    "--uri",
    url,
    "--id",
    id,
    "--producers",
    "1",
    "--consumers",
    "1",
    "--flag",
    "persistent",
    "--confirm",
    String(PERFTEST_CONFIRM_WINDOW),
    "--quorum-queue",
    "--queue",
    id,
    "--exchange",
    id,
    "--type",
    "fanout",
    "--size",
    String(Buffer.byteLength(EVENT_BODY)),
    "--qos",
    String(HERALD_DEFAULT_PREFETCH),
    "--time",
    String(seconds),
  ];
  try {
    const run = await runJava("perf-test", "com.rabbitmq.perf.PerfTest", args, seconds + 120);
    // The command goes into bench/results.json: no password in it.
    const command = run.command.replace(url, url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@"));
    return { command, seconds, ...parsePerfTest(run.stdout) };
  } finally {
    // PerfTest leaves a quorum queue (never auto-deleted) and its exchange behind.
    const connection = await connect(url);
    const channel = await connection.createChannel();
    await channel.deleteQueue(id).catch(() => undefined);
    await channel.deleteExchange(id).catch(() => undefined);
    await connection.close().catch(() => undefined);
  }
}
