import { Counter, Histogram } from "prom-client";

export const dispatchAttempts = new Counter({
  name: "herald_event_dispatch_attempts_total",
  help: "Delivery attempts to subscribers, by outcome code (HTTP status or 'error')",
  labelNames: ["namespace", "name", "code"],
});
export const dispatchLatency = new Histogram({
  name: "herald_event_dispatch_latency_seconds",
  help: "Duration of one delivery attempt",
  labelNames: ["namespace", "name"],
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
});
export const deadLettered = new Counter({
  name: "herald_events_dead_lettered_total",
  help: "Events sent to a dead-letter sink",
  labelNames: ["namespace", "name"],
});
export const dropped = new Counter({
  name: "herald_events_dropped_total",
  help: "Events that could not be delivered nor dead-lettered",
  labelNames: ["namespace", "name", "reason"],
});
export const filteredOut = new Counter({
  name: "herald_events_filtered_total",
  help: "Events a Trigger filter did not match",
  labelNames: ["namespace", "name"],
});
