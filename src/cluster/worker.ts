import type { Logger } from "pino";
import { AggregatorRegistry, Registry } from "prom-client";
import type { HeraldConfig } from "../config.js";
import { createHerald } from "../herald.js";
import { kindsOf, type HeraldPlugins } from "../plugins.js";
import type { Welcome } from "./messages.js";
import { PrimaryLink, ReplicaStore } from "./replica-store.js";

/** /metrics of every worker: asks the primary, which collects and sums them (prom-client's AggregatorRegistry). */
class ClusterRegistry extends Registry {
  constructor(private readonly link: PrimaryLink) {
    super();
  }

  override metrics(): Promise<string> {
    return this.link.ask<string>({ op: "metrics" });
  }
}

/**
 * One worker process of `herald serve --workers N`: a whole Herald (ingress, dispatcher, API) on the
 * shared ports, over a copy of the primary's store. It closes gracefully (the same close as a single
 * Herald) when the primary asks, on SIGTERM, or when the primary is gone; SIGINT (a terminal's
 * Ctrl-C reaches the whole process group) is left to the primary.
 */
export async function runWorker(
  config: HeraldConfig,
  parentLogger: Logger,
  plugins: HeraldPlugins,
): Promise<void> {
  process.on("SIGINT", () => undefined);
  // Answers the primary's metrics requests from the start (with nothing until Herald's registry is set
  // below), so that /metrics never waits for a worker that is still starting.
  new AggregatorRegistry();
  const link = new PrimaryLink();
  // Asked to stop while still starting: stop as soon as there is a Herald to close.
  let stopAsked = false;
  link.onStop = () => (stopAsked = true);
  const welcome = await link.ask<Welcome>({ op: "hello" });
  const logger = parentLogger.child({ worker: welcome.worker, pid: process.pid });
  const store = new ReplicaStore(
    { dataDir: config.dataDir, kinds: kindsOf(plugins), logger, maxResources: config.maxResources },
    link,
    welcome.leads,
    welcome.snapshot,
  );
  const herald = await createHerald({
    config,
    logger,
    plugins,
    worker: { store, leads: welcome.leads, registry: new ClusterRegistry(link) },
  });
  AggregatorRegistry.setRegistries([herald.metrics.registry]);
  let stopping = false;
  const stop = (reason: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ reason }, "worker shutting down");
    herald.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  link.onStop = () => stop("asked by the primary");
  process.on("SIGTERM", () => stop("SIGTERM"));
  if (stopAsked) stop("asked by the primary while starting");
  else link.tell({ type: "herald:ready", url: herald.url, apiUrl: herald.apiUrl });
}
