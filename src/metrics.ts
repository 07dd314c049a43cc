import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/**
 * One Herald instance's Prometheus metrics, on a registry of its own (two instances in one process
 * count separately). Label sets of a deleted Subscription, Trigger or source are removed with it.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly ingressAccepted = new Counter({
    name: "herald_ingress_events_accepted_total",
    help: "Events answered 202 by ingress",
    labelNames: ["namespace", "name"],
    registers: [this.registry],
  });
  readonly ingressRejected = new Counter({
    name: "herald_ingress_requests_rejected_total",
    help: "Ingress requests answered with an error, by status",
    labelNames: ["status"],
    registers: [this.registry],
  });
  readonly ingressLatency = new Histogram({
    name: "herald_ingress_request_duration_seconds",
    help: "Time from request start to the ingress answer",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly dispatchAttempts = new Counter({
    name: "herald_event_dispatch_attempts_total",
    help: "Delivery attempts to subscribers, by outcome code (HTTP status or 'error')",
    labelNames: ["namespace", "name", "code"],
    registers: [this.registry],
  });
  readonly dispatchLatency = new Histogram({
    name: "herald_event_dispatch_latency_seconds",
    help: "Duration of one delivery attempt",
    labelNames: ["namespace", "name"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly deadLettered = new Counter({
    name: "herald_events_dead_lettered_total",
    help: "Events sent to a dead-letter sink",
    labelNames: ["namespace", "name"],
    registers: [this.registry],
  });
  readonly dropped = new Counter({
    name: "herald_events_dropped_total",
    help: "Events that could not be delivered nor dead-lettered",
    labelNames: ["namespace", "name", "reason"],
    registers: [this.registry],
  });
  readonly filteredOut = new Counter({
    name: "herald_events_filtered_total",
    help: "Events a Trigger filter did not match",
    labelNames: ["namespace", "name"],
    registers: [this.registry],
  });
  readonly unconsumed = new Counter({
    name: "herald_events_unconsumed_total",
    help: "Events accepted by a channel that had no subscription, so no one received them",
    labelNames: ["namespace", "name"],
    registers: [this.registry],
  });
  readonly sourceEvents = new Counter({
    name: "herald_source_events_total",
    help: "Events sources sent to their sink, by outcome (delivered, or rejected for good by the sink)",
    labelNames: ["kind", "namespace", "name", "outcome"],
    registers: [this.registry],
  });

  readonly reconcilePasses = new Counter({
    name: "herald_reconcile_passes_total",
    help: "Reconcile passes run (on changes and every resync)",
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Removes every label set of one Subscription or Trigger (it was deleted). */
  async forgetSubscription(namespace: string, name: string): Promise<void> {
    const metrics = [
      this.dispatchAttempts,
      this.dispatchLatency,
      this.deadLettered,
      this.dropped,
      this.filteredOut,
    ];
    await Promise.all(metrics.map((metric) => removeMatching(metric, { namespace, name })));
  }

  /** Removes every label set of one source (it was deleted). */
  async forgetSource(kind: string, namespace: string, name: string): Promise<void> {
    await removeMatching(this.sourceEvents, { kind, namespace, name });
  }

  /** Removes the ingress label set of one channel or Broker address (it was deleted). */
  forgetAddress(namespace: string, name: string): void {
    this.ingressAccepted.remove({ namespace, name });
    this.unconsumed.remove({ namespace, name });
  }
}

/** prom-client removes a label set only by all its values: find each set that matches `labels`. */
async function removeMatching(
  metric: Counter<string> | Histogram<string>,
  labels: Record<string, string>,
): Promise<void> {
  const { values } = await metric.get();
  const matching = values.filter((value) =>
    Object.entries(labels).every(([key, wanted]) => value.labels[key] === wanted),
  );
  for (const value of matching) {
    const set: Record<string, string> = {};
    for (const key of Object.keys(value.labels)) if (key !== "le") set[key] = String(value.labels[key]);
    metric.remove(set);
  }
}
