import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { moduleOf, ownerOf, summariseProfile, type CpuProfile } from "../../bench/profile-summary.js";
import { renderProfile } from "../../bench/report-profile.js";

const frame = (id: number, functionName: string, url = "", lineNumber = 0, columnNumber = 0) => ({
  id,
  callFrame: { functionName, url, lineNumber, columnNumber },
});

/** Samples of 1 000 µs each, in order, on the nodes named by id; the profile ends at 100 000 µs. */
function profileOf(samples: number[]): CpuProfile {
  return {
    endTime: 100_000,
    nodes: [
      frame(1, "(idle)"),
      frame(2, "(garbage collector)"),
      frame(3, "publish", "file:///repo/adapters/kafka/producer.ts", 0, 41),
      frame(4, "encode", "file:///repo/node_modules/kafkajs/src/protocol/encoder.js", 9),
      frame(5, "writev"),
      frame(6, "emit", "node:events", 470),
    ],
    samples,
    timeDeltas: samples.map(() => 1000),
  };
}

describe("bench profile summary", () => {
  it("names the module of a frame: a package, a Herald folder, a node: module, V8's own", () => {
    assert.equal(moduleOf("file:///r/node_modules/@grpc/grpc-js/build/src/call.js", "f"), "@grpc/grpc-js");
    assert.equal(moduleOf("file:///r/node_modules/a/node_modules/undici/lib/x.js", "f"), "undici");
    assert.equal(moduleOf("file:///r/src/ingress/ingress.ts", "f"), "src/ingress");
    assert.equal(moduleOf("file:///r/adapters/kafka.ts", "f"), "adapters/kafka");
    assert.equal(moduleOf("node:internal/streams/readable", "f"), "node:internal/streams");
    assert.equal(moduleOf("", "(garbage collector)"), "(garbage collector)");
    assert.equal(moduleOf("", "writev"), "(native)");
    assert.equal(moduleOf("wasm://wasm/00034eea", "f"), "(wasm)");
    assert.deepEqual(
      ["src/ingress", "adapters/kafka", "kafkajs", "@grpc/grpc-js", "node:events", "(native)", "/r/x.js"].map(
        ownerOf,
      ),
      ["herald", "herald", "library", "library", "node", "v8", "other"],
    );
  });

  it("sums self time per event over the window only, with the GC and idle shares", () => {
    // 100 samples: 10 before the window, then 40 idle, 10 GC, 20 adapter, 15 kafkajs, 5 writev.
    const samples = [
      ...Array<number>(10).fill(4),
      ...Array<number>(40).fill(1),
      ...Array<number>(10).fill(2),
      ...Array<number>(20).fill(3),
      ...Array<number>(15).fill(4),
      ...Array<number>(5).fill(5),
    ];
    // The first sample is at 1 000 µs into the profile, the tenth at 10 000.
    const summary = summariseProfile(profileOf(samples), 50, 10_500, 100_000);
    assert.equal(summary.busyMicrosPerEvent, 1000); // 50 busy samples of 1 000 µs over 50 events
    assert.equal(summary.gcShare, 20);
    assert.equal(summary.idleShare, 44.4);
    assert.deepEqual(summary.byModule[0], { name: "adapters/kafka", share: 40, microsPerEvent: 400 });
    assert.deepEqual(summary.largest.herald, { name: "adapters/kafka", share: 40, microsPerEvent: 400 });
    assert.deepEqual(summary.largest.library, { name: "kafkajs", share: 30, microsPerEvent: 300 });
    assert.deepEqual(
      summary.byFunction.map((entry) => entry.name),
      [
        "publish adapters/kafka/producer.ts:1:42",
        "encode kafkajs/src/protocol/encoder.js:10",
        "(garbage collector) (garbage collector)",
        "writev (native)",
      ],
    );
  });
});

const record = (result: unknown) => ({
  command: "npm run bench -- profile",
  at: "2026-12-07T20:00:00.000Z",
  commit: "abc1234",
  loadAverage: { before: [0.5, 0.4, 0.3], after: [0.6, 0.5, 0.4] },
  result,
});
const entry = (name: string, share: number, microsPerEvent: number) => ({ name, share, microsPerEvent });

describe("BENCHMARKS.md: where the time goes", () => {
  it("renders a path per profile, its top modules and functions and the sentence naming the largest", () => {
    const text = renderProfile(
      record({
        method: { rate: 1000, seconds: 10, ingressConnections: 50 },
        paths: [
          {
            path: "ingress",
            kind: "KafkaChannel",
            events: 110_000,
            busyMicrosPerEvent: 208,
            gcShare: 8.8,
            idleShare: 24.1,
            byModule: [entry("(native)", 30.5, 63.4), entry("kafkajs", 24.7, 51.3)],
            byFunction: [entry("writev (native)", 15.5, 32.2), entry("(program) (program)", 3.6, 7.4)],
            largest: { herald: entry("adapters/kafka", 3.1, 6.4), library: entry("kafkajs", 24.7, 51.3) },
          },
          { path: "delivery", kind: "PubSubChannel", error: "the PubSubChannel delivers nothing" },
        ],
      }),
    );
    assert.match(text, /load average\n?0\.5 \/ 0\.4 \/ 0\.3 before, 0\.6 \/ 0\.5 \/ 0\.4 after/);
    assert.match(text, /### Ingress, KafkaChannel, at saturation \(50 connections\)/);
    assert.match(text, /\*\*208 µs of CPU per accepted event\*\* \(110 000 accepted/);
    assert.match(text, /garbage collector 8\.8% of the busy time; idle 24\.1% of the phase/);
    assert.match(
      text,
      /\| 1 \| `\(native\)` \| 30\.5% \| 63\.4 \| `writev \(native\)` \| 15\.5% \| 32\.2 \|/,
    );
    assert.match(text, /\| 2 \| `kafkajs` \| 24\.7% \| 51\.3 \| `\(program\)` \| 3\.6% \| 7\.4 \|/);
    assert.match(
      text,
      /own code is `adapters\/kafka` \(3\.1% of the busy time, 6\.4 µs\/event\); the largest library/,
    );
    assert.match(
      text,
      /### Delivery, PubSubChannel, 1 000 events\/s\n\nNot profiled in this run: the PubSub/,
    );
    assert.match(text, /\| Delivery, PubSubChannel, 1 000 events\/s \| failed \|/);
  });

  it("renders the single InMemoryChannel result of the case's first version", () => {
    const text = renderProfile(
      record({
        rate: 1000,
        seconds: 10,
        load: { accepted: 10_000 },
        busyMicrosPerEvent: 262,
        byModule: [
          entry("(native)", 40.3, 105.5),
          entry("undici", 9.6, 25.1),
          entry("(garbage collector)", 4.5, 11.8),
        ],
        byFunction: [entry("writev (native):0", 33.3, 87.2)],
      }),
    );
    assert.match(text, /### Delivery, InMemoryChannel, 1 000 events\/s/);
    assert.match(text, /\*\*262 µs of CPU per delivered event\*\* \(10 000 delivered, 10 000 accepted/);
    assert.match(text, /garbage collector 4\.5% of the busy time; idle not recorded/);
    assert.match(text, /`writev \(native\)` \| 33\.3% \|/);
    assert.match(
      text,
      /No module of Herald's own code is among the sampled ones; the largest library module is `undici`/,
    );
  });
});
