/**
 * Parsers of the JVM baselines' summaries: Kafka's ProducerPerformance and EndToEndLatency
 * (org.apache.kafka.tools, 3.9) and RabbitMQ PerfTest (2.22). Each throws, naming the tool, when
 * the output lacks the line it reads, so a changed format fails loudly instead of reporting zeros.
 */

export interface ProducerPerformanceSummary {
  records: number;
  recordsPerSecond: number;
  megabytesPerSecond: number;
  latencyAvgMs: number;
  latencyMaxMs: number;
  latencyP50Ms: number;
  latencyP95Ms: number;
  latencyP99Ms: number;
  latencyP999Ms: number;
}

const NUMBER = String.raw`([\d.]+)`;

/** The last line of ProducerPerformance: "N records sent, R records/sec (M MB/sec), A ms avg latency, …". */
export function parseProducerPerformance(output: string): ProducerPerformanceSummary {
  const summary = new RegExp(
    `${NUMBER} records sent, ${NUMBER} records/sec \\(${NUMBER} MB/sec\\), ${NUMBER} ms avg latency, ` +
      `${NUMBER} ms max latency, ${NUMBER} ms 50th, ${NUMBER} ms 95th, ${NUMBER} ms 99th, ${NUMBER} ms 99.9th`,
  );
  const match = output
    .split("\n")
    .map((line) => summary.exec(line))
    .filter((found) => found !== null)
    .pop();
  if (!match) throw new Error(`ProducerPerformance printed no summary line: ${output.slice(-500)}`);
  const [records, perSecond, megabytes, avg, max, p50, p95, p99, p999] = match.slice(1).map(Number);
  return {
    records: records!,
    recordsPerSecond: perSecond!,
    megabytesPerSecond: megabytes!,
    latencyAvgMs: avg!,
    latencyMaxMs: max!,
    latencyP50Ms: p50!,
    latencyP95Ms: p95!,
    latencyP99Ms: p99!,
    latencyP999Ms: p999!,
  };
}

export interface EndToEndLatencySummary {
  latencyAvgMs: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyP999Ms: number;
}

/** EndToEndLatency's "Avg latency: A ms" and "Percentiles: 50th = x, 99th = y, 99.9th = z". */
export function parseEndToEndLatency(output: string): EndToEndLatencySummary {
  const average = new RegExp(`Avg latency: ${NUMBER} ms`).exec(output);
  const percentiles = new RegExp(`Percentiles: 50th = ${NUMBER}, 99th = ${NUMBER}, 99.9th = ${NUMBER}`).exec(
    output,
  );
  if (!average || !percentiles)
    throw new Error(`EndToEndLatency printed no latency summary: ${output.slice(-500)}`);
  return {
    latencyAvgMs: Number(average[1]),
    latencyP50Ms: Number(percentiles[1]),
    latencyP99Ms: Number(percentiles[2]),
    latencyP999Ms: Number(percentiles[3]),
  };
}

export interface PerfTestSummary {
  sentPerSecond: number;
  receivedPerSecond: number;
  /** Consumer latency (publish to consume), from PerfTest's "consumer latency min/median/75th/95th/99th". */
  consumerLatencyMs: Percentiles;
  /** Publish to confirm, from "confirm latency min/median/75th/95th/99th". */
  confirmLatencyMs: Percentiles;
}

interface Percentiles {
  min: number;
  median: number;
  p75: number;
  p95: number;
  p99: number;
}

/** "<what> latency min/median/75th/95th/99th a/b/c/d/e µs" (or ms, with --use-millis) in ms. */
function perfTestLatency(output: string, what: string): Percentiles | undefined {
  const found = new RegExp(`${what} latency min/median/75th/95th/99th ([\\d./]+) (µs|ms)`).exec(output);
  if (!found) return undefined;
  const scale = found[2] === "µs" ? 1 / 1000 : 1;
  const [min, median, p75, p95, p99] = found[1]!
    .split("/")
    .map((value) => Math.round(Number(value) * scale * 1000) / 1000);
  return { min: min!, median: median!, p75: p75!, p95: p95!, p99: p99! };
}

/**
 * PerfTest's closing lines: "id: …, sending rate avg: S msg/s", "… receiving rate avg: R msg/s" and
 * "… consumer latency min/median/75th/95th/99th a/b/c/d/e µs" (or ms, with --use-millis).
 */
export function parsePerfTest(output: string): PerfTestSummary {
  const sent = new RegExp(`sending rate avg: ${NUMBER} msg/s`).exec(output);
  const received = new RegExp(`receiving rate avg: ${NUMBER} msg/s`).exec(output);
  // The per-second lines say "min/median/75th/95th/99th consumer latency: …", the summary the reverse.
  const consumer = perfTestLatency(output, "consumer");
  const confirm = perfTestLatency(output, "confirm");
  if (!sent || !received || !consumer || !confirm)
    throw new Error(`PerfTest printed no summary (sending/receiving rate, latencies): ${output.slice(-500)}`);
  return {
    sentPerSecond: Number(sent[1]),
    receivedPerSecond: Number(received[1]),
    consumerLatencyMs: consumer,
    confirmLatencyMs: confirm,
  };
}
