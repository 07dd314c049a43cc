import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderCeilingCase } from "../../bench/report-baselines.js";

const spread = (median: number, min = median, max = median) => ({ median, min, max });
const record = (result: unknown) => ({
  command: "npm run bench -- kafka",
  at: "2026-12-07T20:00:00.000Z",
  commit: "abc1234",
  loadAverage: { before: [0.5, 0.4, 0.3], after: [0.6, 0.5, 0.4] },
  result,
});
const kafka = {
  method: {
    runs: 3,
    connections: 50,
    recordSize: 244,
    producerPerformance: { records: 500000, producerProps: ["acks=all", "linger.ms=5"] },
    endToEndLatency: { messages: 5000 },
  },
  summary: {
    producerPerformancePerSecond: spread(100000, 90000, 110000),
    endToEndLatencyP50Ms: spread(2),
    heraldIngressPerSecond: spread(8000),
    heraldEndToEndPerSecond: spread(3000),
  },
  ratios: { heraldIngressVsProducerPerformance: 0.08, heraldEndToEndVsProducerPerformance: 0.03 },
  rounds: [
    {
      ceiling: {
        producerPerformance: { command: "java … ProducerPerformance --record-size 244" },
        endToEndLatency: { command: "java … EndToEndLatency 127.0.0.1:9092 t 5000 all 244" },
      },
    },
  ],
};

describe("BENCHMARKS.md: cases measured against a ceiling", () => {
  it("shows the tool's command, settings, the medians with their range and Herald's fraction", () => {
    const text = renderCeilingCase("kafka", record(kafka))!;
    assert.match(text, /ProducerPerformance --record-size 244/);
    assert.match(text, /EndToEndLatency 127\.0\.0\.1:9092 t 5000 all 244/);
    assert.match(text, /acks=all linger\.ms=5/);
    assert.match(text, /\| ProducerPerformance \(ceiling\) \| 100 000 \(90 000–110 000\) \|/);
    assert.match(text, /ingress \*\*0\.08\*\* of ProducerPerformance's rate, end to end\s+\*\*0\.03\*\*/);
  });

  it("sets the open-loop KafkaChannel against the ceiling when that case was measured", () => {
    const open = record({
      targets: {
        kafka: { summary: { maxSustainablePerSecond: spread(5000), maxKeptUpPerSecond: spread(6000) } },
      },
    });
    assert.match(
      renderCeilingCase("kafka", record(kafka), open)!,
      /sustained 5 000 events\/s end to end, \*\*0\.05\*\*/,
    );
  });

  it("leaves a result of the older shape (no rounds) to the JSON section", () => {
    assert.equal(renderCeilingCase("kafka", record({ rawClient: {}, heraldIngress: {} })), undefined);
    assert.equal(renderCeilingCase("core", record(kafka)), undefined);
  });
});
