import cluster from "node:cluster";
import type { Logger } from "pino";
import type { HeraldConfig } from "../config.js";
import type { HeraldPlugins } from "../plugins.js";
import { runPrimary } from "./primary.js";
import { runWorker } from "./worker.js";

/**
 * `herald serve --workers N` (N > 1): in the process the user started, the primary (resolves with
 * the URL once every worker serves); in a process the primary forked (same command line), a worker
 * (resolves with undefined once it serves).
 */
export async function serveWorkers(
  config: HeraldConfig,
  logger: Logger,
  plugins: HeraldPlugins,
): Promise<string | undefined> {
  if (cluster.isPrimary) return runPrimary(config, logger, plugins);
  try {
    await runWorker(config, logger, plugins);
  } catch (error) {
    // The IPC channel would keep the process alive: exit, and the primary sees the worker fail.
    process.stderr.write(
      `worker failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  }
  return undefined;
}
