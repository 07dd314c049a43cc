/**
 * Core benchmark: (a) a bare node:http server answering 202, (b) Herald ingress into an
 * in-memory channel with no subscriber, (c) Herald end to end to one subscriber. Same load
 * generator, same event, same run. Prints JSON.
 */
import {
  BARE_SERVER,
  COUNTING_SUBSCRIBER,
  EVENT_BODY,
  EVENT_HEADERS,
  HeraldProcess,
  load,
  ratio,
  startScript,
} from "./support.js";

export async function benchCore(options: { durationSeconds: number; connections: number }) {
  const loadOptions = { ...options, headers: EVENT_HEADERS, body: EVENT_BODY };

  const bare = await startScript(BARE_SERVER);
  const baseline = await load(`http://127.0.0.1:${bare.port}/`, loadOptions);
  await bare.stop();

  const subscriber = await startScript(COUNTING_SUBSCRIBER);
  const herald = await HeraldProcess.start({
    env: { HERALD_LOG_LEVEL: "error", HERALD_MEMORY_CAPACITY: "1000000" },
  });
  try {
    await herald.apply(
      "apiVersion: messaging.knative.dev/v1\nkind: InMemoryChannel\nmetadata: { name: ingress-only }\n",
    );
    const ingress = await load(herald.channelUrl("ingress-only"), loadOptions);

    await herald.apply(`
apiVersion: messaging.knative.dev/v1
kind: InMemoryChannel
metadata: { name: end-to-end }
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: end-to-end }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, name: end-to-end }
  subscriber: { uri: "http://127.0.0.1:${subscriber.port}/" }
`);
    const started = performance.now();
    const sent = await load(herald.channelUrl("end-to-end"), { ...loadOptions, stamp: true });
    // Wait (bounded) until every accepted event has been delivered, then read the subscriber's figures.
    const deadline = Date.now() + 60_000;
    let stats = { count: 0, p50: 0, p99: 0 };
    while (Date.now() < deadline) {
      stats = (await (await fetch(`http://127.0.0.1:${subscriber.port}/stats`)).json()) as typeof stats;
      if (stats.count >= sent.requests - sent.non2xx - sent.errors) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const elapsedSeconds = (performance.now() - started) / 1000;
    const delivered = {
      eventsPerSecond: Math.round(stats.count / elapsedSeconds),
      delivered: stats.count,
      latencyP50Ms: Math.round(stats.p50 * 100) / 100,
      latencyP99Ms: Math.round(stats.p99 * 100) / 100,
    };
    return {
      bareHttp: baseline,
      heraldIngress: ingress,
      heraldEndToEnd: { ingress: sent, ...delivered },
      ratios: {
        ingressVsBare: ratio(ingress.requestsPerSecond, baseline.requestsPerSecond),
        endToEndVsBare: ratio(delivered.eventsPerSecond, baseline.requestsPerSecond),
      },
    };
  } finally {
    await herald.close();
    await subscriber.stop();
  }
}
