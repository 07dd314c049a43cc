/**
 * BENCHMARKS.md sections of the closed-loop cases measured against a JVM ceiling (kafka: Kafka's
 * ProducerPerformance and EndToEndLatency; rabbitmq: RabbitMQ PerfTest): the commands, the settings,
 * each figure's median and range over the rounds, and Herald's figures as a fraction of them.
 */
import type { Spread } from "./open.js";

interface Record {
  command: string;
  at: string;
  commit: string;
  loadAverage: { before: number[]; after: number[] };
  result: unknown;
}

interface RoundsResult {
  method: { runs: number } & { [key: string]: unknown };
  summary: { [figure: string]: Spread | undefined };
  ratios: { [name: string]: number | undefined };
  rounds: Array<{ [key: string]: unknown }>;
}

const number = (value: number) =>
  value >= 1000
    ? Math.round(value).toLocaleString("en-US").replace(/,/g, " ")
    : String(Math.round(value * 100) / 100);

function cell(figure: Spread | undefined): string {
  if (!figure) return "–";
  if (figure.min === figure.max) return number(figure.median);
  return `${number(figure.median)} (${number(figure.min)}–${number(figure.max)})`;
}

function table(header: string[], rows: string[][]): string {
  const align = header.map((_, index) => (index === 0 ? "---" : "--:"));
  return [header, align, ...rows].map((row) => `| ${row.join(" | ")} |`).join("\n");
}

const ratio = (value: number | undefined) => (value === undefined ? "–" : `**${value}**`);

function isRounds(result: unknown): result is RoundsResult {
  return typeof result === "object" && result !== null && "summary" in result && "rounds" in result;
}

/** The first round's value at `path` (the commands are the same in every round but for names). */
function firstRound(result: RoundsResult, ...path: string[]): unknown {
  let value: unknown = result.rounds[0];
  for (const key of path) value = (value as { [key: string]: unknown } | undefined)?.[key];
  return value;
}

function header(title: string, record: Record, result: RoundsResult): string {
  return `## ${title}

\`${record.command}\` at \`${record.commit}\`, ${record.at.slice(0, 16).replace("T", " ")} UTC, load average
${record.loadAverage.before.join(" / ")} before, ${record.loadAverage.after.join(" / ")} after. ${result.method.runs}
round(s), each measuring the ceiling tool, the raw client and Herald one after the other; figures are the
median of the rounds with the range (min–max) in brackets.`;
}

/** The open-loop `kafka` target's figures (another run) against the tools' medians, when both exist. */
function openLoopAgainstCeiling(open: Record | undefined, summary: RoundsResult["summary"]): string {
  const targets = (open?.result as { targets?: { [name: string]: { summary: { [key: string]: unknown } } } })
    ?.targets;
  const kafka = targets?.kafka?.summary;
  const ceiling = summary.producerPerformancePerSecond?.median;
  if (!open || !kafka || !ceiling) return "";
  const median = (value: unknown) => (value as Spread | undefined)?.median;
  const at1k = kafka.at1k as { p50Ms?: Spread; p99Ms?: Spread } | undefined;
  const fraction = (value: number | undefined) =>
    value === undefined ? "–" : `**${Math.round((value / ceiling) * 1000) / 1000}**`;
  return `
From the open-loop case (\`${open.command}\` at \`${open.commit}\`, a separate run): Herald's KafkaChannel
sustained ${cell(kafka.maxSustainablePerSecond as Spread | undefined)} events/s end to end, ${fraction(median(kafka.maxSustainablePerSecond))} of
ProducerPerformance's rate here, and kept up with ${cell(kafka.maxKeptUpPerSecond as Spread | undefined)} (${fraction(median(kafka.maxKeptUpPerSecond))});
at 1k events/s its end-to-end p50 / p99 were ${cell(at1k?.p50Ms)} / ${cell(at1k?.p99Ms)} ms against EndToEndLatency's
${cell(summary.endToEndLatencyP50Ms)} / ${cell(summary.endToEndLatencyP99Ms)} ms for one message at a time.
`;
}

/** How Herald was served, when with more than one process (BENCH_WORKERS). */
const servedBy = (workers: number | undefined) =>
  workers && workers > 1 ? ` (\`serve --workers ${workers}\`)` : "";

function renderKafka(record: Record, result: RoundsResult, open: Record | undefined): string {
  const { summary: s, ratios: r } = result;
  const method = result.method as RoundsResult["method"] & {
    connections: number;
    workers?: number;
    recordSize: number;
    producerPerformance: { records: number; producerProps: string[] };
    endToEndLatency: { messages: number };
  };
  return `${header("Kafka: Herald against Kafka's own tools", record, result)}

- **ProducerPerformance** (\`org.apache.kafka:kafka-tools\` 3.9.1, the broker's version), one producer,
  unthrottled, ${number(method.producerPerformance.records)} records of ${method.recordSize} bytes (the bench
  event's body) to a fresh 1-partition topic, \`${method.producerPerformance.producerProps.join(" ")}\`:
  \`${String(firstRound(result, "ceiling", "producerPerformance", "command"))}\`
- **EndToEndLatency**, ${number(method.endToEndLatency.messages)} messages one at a time (acks=all), produced and
  consumed before the next: \`${String(firstRound(result, "ceiling", "endToEndLatency", "command"))}\`
- **raw kafkajs producer**, idempotent, acks=all, one event per \`send\`, ${method.connections ?? "–"} publish loops.
- **Herald**${servedBy(method.workers)}: autocannon into a KafkaChannel (ingress), then into one with a Subscription (end to end).

${table(
  ["measurement", "events/s", "p50 ms", "p99 ms"],
  [
    [
      "ProducerPerformance (ceiling)",
      cell(s.producerPerformancePerSecond),
      "–",
      cell(s.producerPerformanceP99Ms),
    ],
    ["EndToEndLatency (one at a time)", "–", cell(s.endToEndLatencyP50Ms), cell(s.endToEndLatencyP99Ms)],
    ["raw kafkajs producer", cell(s.rawClientPerSecond), "–", "–"],
    ["Herald ingress", cell(s.heraldIngressPerSecond), "–", "–"],
    [
      "Herald end to end (closed loop, saturated)",
      cell(s.heraldEndToEndPerSecond),
      cell(s.heraldEndToEndP50Ms),
      cell(s.heraldEndToEndP99Ms),
    ],
  ],
)}

Herald / ceiling: ingress ${ratio(r.heraldIngressVsProducerPerformance)} of ProducerPerformance's rate, end to end
${ratio(r.heraldEndToEndVsProducerPerformance)}; ingress / raw kafkajs ${ratio(r.heraldIngressVsRawClient)}. Herald's closed-loop
latencies are measured at saturation; compare EndToEndLatency with the open-loop \`kafka\` target at 1k/s.
${openLoopAgainstCeiling(open, s)}`;
}

function renderRabbitmq(record: Record, result: RoundsResult): string {
  const { summary: s, ratios: r } = result;
  const method = result.method as RoundsResult["method"] & {
    connections: number;
    workers?: number;
    messageSize: number;
    perfTest: { confirm: number; qos: number; seconds: number };
  };
  return `${header("RabbitMQ: Herald against PerfTest and raw amqplib", record, result)}

- **PerfTest** (\`com.rabbitmq:perf-test\` 2.22.1), one producer and one consumer, persistent messages of
  ${method.messageSize} bytes, publisher confirms (${method.perfTest.confirm} unconfirmed at most), a fanout exchange
  with a durable quorum queue bound, prefetch ${method.perfTest.qos} (Herald's default), unthrottled, ${method.perfTest.seconds} s:
  \`${String(firstRound(result, "perfTest", "command"))}\`
- **raw amqplib**: a confirm channel, one persistent message per publish, ${method.connections ?? "–"} publish loops, to a durable
  fanout exchange with a durable quorum queue bound (no consumer).
- **Herald**${servedBy(method.workers)}: autocannon into a RabbitmqChannel whose exchange has the same kind of queue bound
  (ingress), then into one with a Subscription (end to end).

${table(
  ["measurement", "events/s", "p50 ms", "p99 ms"],
  [
    ["PerfTest, sent (confirmed)", cell(s.perfTestSentPerSecond), "–", "–"],
    [
      "PerfTest, received (consumer latency)",
      cell(s.perfTestReceivedPerSecond),
      cell(s.perfTestConsumerP50Ms),
      cell(s.perfTestConsumerP99Ms),
    ],
    ["raw amqplib, confirmed publishes", cell(s.rawClientPerSecond), "–", "–"],
    ["Herald ingress", cell(s.heraldIngressPerSecond), "–", "–"],
    [
      "Herald end to end (closed loop, saturated)",
      cell(s.heraldEndToEndPerSecond),
      cell(s.heraldEndToEndP50Ms),
      cell(s.heraldEndToEndP99Ms),
    ],
  ],
)}

Herald / PerfTest: ingress ${ratio(r.heraldIngressVsPerfTestSent)} of PerfTest's sending rate, end to end
${ratio(r.heraldEndToEndVsPerfTestReceived)} of its receiving rate; ingress / raw amqplib ${ratio(r.heraldIngressVsRawClient)}.
PerfTest's unthrottled producer outruns its consumer, so its consumer latency includes the queue's backlog.
`;
}

/** The section of a case measured against a ceiling, or undefined for a case (or an older result) without one. */
export function renderCeilingCase(name: string, record: Record, open?: Record): string | undefined {
  if (!isRounds(record.result)) return undefined;
  if (name === "kafka") return renderKafka(record, record.result, open);
  if (name === "rabbitmq") return renderRabbitmq(record, record.result);
  return undefined;
}
