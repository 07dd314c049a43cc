import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseEndToEndLatency, parsePerfTest, parseProducerPerformance } from "../../bench/jvm-output.js";

// Output captured from org.apache.kafka:kafka-tools 3.9.1 and com.rabbitmq:perf-test 2.22.1.
const PRODUCER_PERFORMANCE = `12000 records sent, 2399.5 records/sec (0.56 MB/sec), 702.4 ms avg latency, 1200.0 ms max latency.
20000 records sent, 5130.836326 records/sec (1.19 MB/sec), 1028.59 ms avg latency, 1747.00 ms max latency, 1090 ms 50th, 1737 ms 95th, 1745 ms 99th, 1746 ms 99.9th.
`;
const END_TO_END_LATENCY = `0	12.345
Avg latency: 10.9744 ms
Percentiles: 50th = 7, 99th = 87, 99.9th = 231
`;
const PERF_TEST = `id: x, time 1.001 s, sent: 1716 msg/s, confirmed: 1714 msg/s, nacked: 0 msg/s, received: 788 msg/s, min/median/75th/95th/99th consumer latency: 15622/216742/265442/455123/588241 µs, confirm latency: 508/9686/22404/36875/62962 µs
test stopped (Reached time limit)
id: x, sending rate avg: 6456 msg/s
id: x, receiving rate avg: 972 msg/s
id: x, consumer latency min/median/75th/95th/99th 35087/1369994/2365000/2653035/2956184 µs
id: x, confirm latency min/median/75th/95th/99th 508/5459/11631/36322/60511 µs
`;

describe("JVM baselines' output", () => {
  it("reads ProducerPerformance's final summary, not its progress lines", () => {
    assert.deepEqual(parseProducerPerformance(PRODUCER_PERFORMANCE), {
      records: 20000,
      recordsPerSecond: 5130.836326,
      megabytesPerSecond: 1.19,
      latencyAvgMs: 1028.59,
      latencyMaxMs: 1747,
      latencyP50Ms: 1090,
      latencyP95Ms: 1737,
      latencyP99Ms: 1745,
      latencyP999Ms: 1746,
    });
  });

  it("reads EndToEndLatency's average and percentiles", () => {
    assert.deepEqual(parseEndToEndLatency(END_TO_END_LATENCY), {
      latencyAvgMs: 10.9744,
      latencyP50Ms: 7,
      latencyP99Ms: 87,
      latencyP999Ms: 231,
    });
  });

  it("reads PerfTest's summary rates and latencies in milliseconds", () => {
    const summary = parsePerfTest(PERF_TEST);
    assert.equal(summary.sentPerSecond, 6456);
    assert.equal(summary.receivedPerSecond, 972);
    assert.deepEqual(summary.consumerLatencyMs, {
      min: 35.087,
      median: 1369.994,
      p75: 2365,
      p95: 2653.035,
      p99: 2956.184,
    });
    assert.equal(summary.confirmLatencyMs.median, 5.459);
    assert.equal(parsePerfTest(PERF_TEST.replace(/ µs/g, " ms")).consumerLatencyMs.median, 1369994);
  });

  it("names the tool when its summary is missing", () => {
    assert.throws(() => parseProducerPerformance("Exception in thread main"), /ProducerPerformance/);
    assert.throws(() => parseEndToEndLatency("Avg latency: 1 ms"), /EndToEndLatency/);
    assert.throws(() => parsePerfTest("id: x, sending rate avg: 1 msg/s"), /PerfTest/);
  });
});
