import cluster, { type Worker } from "node:cluster";
import type { Logger } from "pino";
import { AggregatorRegistry } from "prom-client";
import { IdentityIssuer } from "../auth/identity.js";
import { ConfigError, publicBaseUrl, type HeraldConfig } from "../config.js";
import { ResourceStore } from "../control/store.js";
import { kindsOf, type HeraldPlugins } from "../plugins.js";
import { isHeraldMessage, toWire, type PrimaryMessage, type WorkerMessage } from "./messages.js";
import {
  StoreOwner,
  UNSHAREABLE_CHANNEL_KINDS,
  unshareableReason,
  unshareableResources,
} from "./store-owner.js";

/** How long a slot whose worker died before it was ready waits before the next start. */
const RESTART_AFTER_FAILED_START_MS = 1_000;
/**
 * How long another worker's apply waits at most for the leader's reconcile pass, which may take a
 * while (a new Kafka subscription waits for its consumer group); a leader that exits ends the wait.
 */
const LEADER_RECONCILE_WAIT_MS = 60_000;

interface Slot {
  readonly index: number;
  worker?: Worker;
  ready: boolean;
}

/**
 * The primary process of `herald serve --workers N`. It serves nothing itself: it owns the resource
 * store (the one writer of the data directory's snapshot), starts N workers that listen on the same
 * ports (node:cluster hands each accepted connection to one of them), answers their store requests,
 * restarts a worker that dies, and on SIGTERM or SIGINT asks every worker to close gracefully and
 * exits once they have. Worker 0 leads: it loads the config folder, runs the sources and writes
 * status; a restarted worker 0 leads again.
 *
 * Resolves with the URL once every worker serves; rejects (and stops the others) when a worker dies
 * before the first start completed.
 */
export async function runPrimary(
  config: HeraldConfig,
  logger: Logger,
  plugins: HeraldPlugins,
): Promise<string> {
  const workers = config.workers;
  if (UNSHAREABLE_CHANNEL_KINDS.has(config.defaultChannelKind))
    throw new ConfigError([
      `workers (HERALD_WORKERS): the default channel kind (HERALD_DEFAULT_CHANNEL_KIND, --default-channel-kind) is ${config.defaultChannelKind}: ${unshareableReason(config.defaultChannelKind, workers)}`,
    ]);
  const kinds = kindsOf(plugins);
  const store = new ResourceStore({
    dataDir: config.dataDir,
    kinds,
    logger,
    maxResources: config.maxResources,
  });
  await store.load();
  const unshareable = unshareableResources(store);
  if (unshareable.length > 0)
    throw new ConfigError([
      `workers (HERALD_WORKERS): ${unshareable.join(", ")} in ${config.dataDir}: ${unshareableReason(unshareable[0]!.split(" ")[0]!, workers)}; delete them first`,
    ]);
  // The signing key is made once here, so the workers all read the same one.
  await IdentityIssuer.open(config.dataDir, () => publicBaseUrl(config));

  const aggregator = new AggregatorRegistry();
  const slots: Slot[] = Array.from({ length: workers }, (_, index) => ({ index, ready: false }));
  const send = (worker: Worker, message: PrimaryMessage) => {
    if (worker.isConnected()) worker.send(message);
  };
  const reconciles = new Map<number, () => void>();
  let nextReconcile = 0;
  const reconcileOnLeader = () => {
    const leader = slots[0]!;
    if (!leader.worker || !leader.ready) return Promise.resolve();
    const id = nextReconcile++;
    return new Promise<void>((resolve) => {
      // A leader that hangs or dies never answers: the apply then answers with the status it has.
      const timer = setTimeout(() => reconciles.delete(id) && resolve(), LEADER_RECONCILE_WAIT_MS);
      reconciles.set(id, () => {
        clearTimeout(timer);
        resolve();
      });
      send(leader.worker!, { type: "herald:reconcile", id });
    });
  };
  const owner = new StoreOwner(
    store,
    kinds,
    workers,
    aggregator,
    (snapshot) => {
      for (const slot of slots) if (slot.worker) send(slot.worker, { type: "herald:snapshot", snapshot });
    },
    reconcileOnLeader,
  );
  let stopping = false;
  let started: { resolve: (url: string) => void; reject: (error: Error) => void } | undefined;
  const firstStart = new Promise<string>((resolve, reject) => (started = { resolve, reject }));
  let url = "";

  const start = (slot: Slot) => {
    const worker = cluster.fork();
    slot.worker = worker;
    slot.ready = false;
    worker.on("message", (message: unknown) => {
      if (!isHeraldMessage<WorkerMessage>(message)) return;
      switch (message.type) {
        case "herald:request":
          owner.handle(message.request, slot.index).then(
            (value) => send(worker, { type: "herald:response", id: message.id, value }),
            (error: unknown) =>
              send(worker, { type: "herald:response", id: message.id, error: toWire(error) }),
          );
          return;
        case "herald:reconciled":
          reconciles.get(message.id)?.();
          reconciles.delete(message.id);
          return;
        case "herald:status":
          if (slot.index === 0) owner.setStatus(message.resource, message.status);
          return;
        case "herald:ready":
          slot.ready = true;
          url = message.url;
          logger.info({ worker: slot.index, pid: worker.process.pid }, "worker serving");
          if (slots.every((each) => each.ready)) started?.resolve(url);
          return;
      }
    });
    worker.on("exit", (code, signal) => {
      if (slot.worker !== worker) return;
      const wasReady = slot.ready;
      slot.worker = undefined;
      slot.ready = false;
      if (slot.index === 0) {
        for (const done of reconciles.values()) done();
        reconciles.clear();
      }
      if (stopping) return;
      if (started) {
        stopping = true;
        started.reject(new Error(`worker ${slot.index} exited with ${signal ?? code} while starting`));
        for (const other of slots) other.worker?.process.kill("SIGTERM");
        return;
      }
      logger.error(
        { worker: slot.index, pid: worker.process.pid, code, signal },
        "a worker exited; starting another",
      );
      if (wasReady) start(slot);
      else setTimeout(() => !stopping && start(slot), RESTART_AFTER_FAILED_START_MS).unref();
    });
  };

  cluster.setupPrimary({ serialization: "advanced" });
  for (const slot of slots) start(slot);
  try {
    await firstStart;
  } finally {
    started = undefined;
  }

  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down the workers");
    for (const slot of slots) if (slot.worker) send(slot.worker, { type: "herald:stop" });
    const exits = slots.flatMap((slot) =>
      slot.worker ? [new Promise<void>((resolve) => slot.worker!.once("exit", () => resolve()))] : [],
    );
    Promise.all(exits)
      .then(() => store.flush())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, "shutdown failed");
          process.exit(1);
        },
      );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  return url;
}
