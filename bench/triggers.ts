/**
 * Broker fan-in benchmark: ingress-to-subscriber throughput through a Broker with one Trigger,
 * then with 100 Triggers each matching one event type (the events all match the same one), in the
 * same run. Filters are compiled once, so the 100-Trigger case should stay close to the first.
 */
import {
  COUNTING_SUBSCRIBER,
  EVENT_BODY,
  EVENT_HEADERS,
  HeraldProcess,
  load,
  ratio,
  startScript,
} from "./support.js";

async function measure(
  herald: HeraldProcess,
  subscriberPort: number,
  broker: string,
  options: { durationSeconds: number; connections: number },
) {
  await fetch(`http://127.0.0.1:${subscriberPort}/stats`, { method: "DELETE" });
  const started = performance.now();
  const sent = await load(`${herald.url}/brokers/default/${broker}`, {
    ...options,
    headers: { ...EVENT_HEADERS, "ce-type": "bench.type.0" },
    body: EVENT_BODY,
    stamp: true,
  });
  const expected = sent.requests - sent.non2xx - sent.errors;
  const deadline = Date.now() + 60_000;
  let stats = { count: 0, p50: 0, p99: 0 };
  while (Date.now() < deadline) {
    stats = (await (await fetch(`http://127.0.0.1:${subscriberPort}/stats`)).json()) as typeof stats;
    if (stats.count >= expected) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    ingress: sent,
    delivered: stats.count,
    eventsPerSecond: Math.round(stats.count / seconds),
    latencyP50Ms: Math.round(stats.p50 * 100) / 100,
    latencyP99Ms: Math.round(stats.p99 * 100) / 100,
  };
}

function triggers(broker: string, count: number, subscriber: string): string {
  return Array.from(
    { length: count },
    (_, i) => `apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: ${broker}-t${i} }
spec:
  broker: ${broker}
  filter: { attributes: { type: bench.type.${i} } }
  subscriber: { uri: "${subscriber}" }
`,
  ).join("---\n");
}

export async function benchTriggers(options: { durationSeconds: number; connections: number }) {
  const subscriber = await startScript(COUNTING_SUBSCRIBER);
  const herald = await HeraldProcess.start({
    env: { HERALD_LOG_LEVEL: "error", HERALD_MEMORY_CAPACITY: "1000000" },
  });
  const url = `http://127.0.0.1:${subscriber.port}/`;
  try {
    await herald.apply(
      `apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: { name: one }\n---\n${triggers("one", 1, url)}`,
    );
    const one = await measure(herald, subscriber.port, "one", options);
    await herald.apply(
      `apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: { name: hundred }\n---\n${triggers("hundred", 100, url)}`,
    );
    const hundred = await measure(herald, subscriber.port, "hundred", options);
    return {
      oneTrigger: one,
      hundredTriggers: hundred,
      ratios: { hundredVsOneTrigger: ratio(hundred.eventsPerSecond, one.eventsPerSecond) },
    };
  } finally {
    await herald.close();
    await subscriber.stop();
  }
}
