import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import "./resources/all-kinds.js";
import { AdapterRegistry } from "../adapters/registry.js";
import { createApiApp } from "./api/app.js";
import { publicBaseUrl, type HeraldConfig } from "./config.js";
import { ConfigDirectory } from "./control/config-dir.js";
import { withTtl } from "./control/brokers.js";
import { ControlPlane } from "./control/control-plane.js";
import { ResourceStore } from "./control/store.js";
import { Sender } from "./dispatcher/sender.js";
import { createIngressHandler, isIngressPath } from "./ingress/ingress.js";
import { createTracing } from "./tracing.js";

export interface RunningHerald {
  readonly url: string;
  readonly controlPlane: ControlPlane;
  close(): Promise<void>;
}

/**
 * Starts Herald: loads the stored resources, serves ingress and the resource API on one port,
 * reconciles, and loads the config folder when one is given.
 */
export async function startHerald(config: HeraldConfig, logger: Logger): Promise<RunningHerald> {
  const store = new ResourceStore(config.dataDir);
  await store.load();
  const adapters = new AdapterRegistry({ config, logger });
  const sender = new Sender({
    connectionsPerOrigin: config.dispatcher.connectionsPerOrigin,
    defaultTimeoutMs: config.dispatcher.defaultTimeoutMs,
  });
  const tracing = createTracing(config.tracing);
  const controlPlane = new ControlPlane({ config, logger, store, adapters, sender, tracing });
  let ready = false;
  const api = createApiApp(controlPlane, () => ready, config.maxBodyBytes);
  const ingress = createIngressHandler(
    (kind, namespace, name) => {
      if (kind === "brokers") {
        const channel = controlPlane.brokerFor(namespace, name);
        if (!channel) return undefined;
        return {
          ready: channel.ready,
          message: channel.message,
          publish: (events) => channel.adapter.publish(channel.target, withTtl(events)),
        };
      }
      const channel = controlPlane.channelFor(namespace, name);
      if (!channel) return undefined;
      return {
        ready: channel.ready,
        message: channel.message,
        publish: (events) => channel.adapter.publish(channel.target, events),
      };
    },
    { maxBodyBytes: config.maxBodyBytes, logger, tracing },
  );
  const server: Server = createServer((req, res) => {
    const url = req.url ?? "/";
    const query = url.indexOf("?");
    const path = query === -1 ? url : url.slice(0, query);
    if (isIngressPath(path)) void ingress(req, res, path);
    else api(req, res);
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await controlPlane.start(publicBaseUrl({ ...config, port }));
  const configDirectory = config.configDir
    ? new ConfigDirectory(config.configDir, controlPlane, logger)
    : undefined;
  if (configDirectory) {
    await configDirectory.load();
    configDirectory.watch();
  }
  ready = true;
  const url = publicBaseUrl({ ...config, port, publicUrl: undefined });
  logger.info({ url, dataDir: config.dataDir, configDir: config.configDir }, "herald is serving");
  return {
    url,
    controlPlane,
    close: async () => {
      ready = false;
      configDirectory?.close();
      // Stop taking events first, then let the dispatcher finish or hand back what is in flight.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await controlPlane.close();
      await sender.close();
      await tracing
        .shutdown()
        .catch((error: unknown) => logger.warn({ err: error }, "exporting the last spans failed"));
      server.closeAllConnections();
      await closed;
    },
  };
}
