import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { createApiApp } from "./api/app.js";
import { publicBaseUrl, type HeraldConfig } from "./config.js";
import { AdapterRegistry } from "./control/adapters.js";
import { Admission } from "./control/admission.js";
import { BackingChannelReconciler } from "./control/backing-channels.js";
import { BrokerReconciler } from "./control/broker-reconciler.js";
import { brokerChannelName } from "./control/brokers.js";
import { ChannelReconciler } from "./control/channel-reconciler.js";
import { ConfigDirectory } from "./control/config-dir.js";
import { ChannelDirectory } from "./control/directory.js";
import { ReconcileLoop } from "./control/reconcile-loop.js";
import { ResourceService } from "./control/resource-service.js";
import { SourceReconciler } from "./control/source-reconciler.js";
import { StatusWriter } from "./control/status.js";
import { ResourceStore } from "./control/store.js";
import { SubscriptionReconciler } from "./control/subscription-reconciler.js";
import { Sender } from "./dispatcher/sender.js";
import { createIngressHandler, isIngressPath } from "./ingress/ingress.js";
import { Metrics } from "./metrics.js";
import { brokerClassesOf, kindsOf, type HeraldPlugins } from "./plugins.js";
import { createListener, loadClientTls, ServerCertificate } from "./tls.js";
import { createTracing } from "./tracing.js";

export interface HeraldOptions {
  readonly config: HeraldConfig;
  readonly logger: Logger;
  readonly plugins: HeraldPlugins;
  /** How often every resource is reconciled again besides on changes (default 5 s). */
  readonly resyncMs?: number;
}

export interface Herald {
  /** Where Herald listens (the bound port, also when the configured port is 0). */
  readonly url: string;
  readonly resources: ResourceService;
  readonly metrics: Metrics;
  close(): Promise<void>;
}

/**
 * Builds and starts one Herald: its kind registry, metrics, store, adapters and reconcilers, all
 * owned by this instance (nothing lives at module level, so several run side by side in one
 * process), then serves ingress and the resource API on one port, reconciles, and loads the config
 * folder when one is given.
 */
export async function createHerald(options: HeraldOptions): Promise<Herald> {
  const { config, logger, plugins } = options;
  const kinds = kindsOf(plugins);
  const metrics = new Metrics();
  const store = new ResourceStore({
    dataDir: config.dataDir,
    kinds,
    logger,
    maxResources: config.maxResources,
  });
  await store.load();
  const adapters = new AdapterRegistry(plugins.channels, config, logger, metrics);
  const sender = new Sender({
    connectionsPerOrigin: config.dispatcher.connectionsPerOrigin,
    defaultTimeoutMs: config.dispatcher.defaultTimeoutMs,
    tls: loadClientTls(config.tls),
  });
  const { certFile, keyFile } = config.tls;
  const certificate = certFile && keyFile ? ServerCertificate.load({ certFile, keyFile }, logger) : undefined;
  const tracing = createTracing(config.tracing);
  const status = new StatusWriter(store);
  const directory = new ChannelDirectory(config.publishTimeoutMs);
  const admission = new Admission(kinds, store, config.defaultChannelKind);
  const shutdown = new AbortController();
  let baseUrl = publicBaseUrl(config);

  const subscriptions = new SubscriptionReconciler({
    kinds,
    store,
    directory,
    status,
    logger,
    sender,
    tracing,
    metrics,
    maxInFlight: config.dispatcher.maxInFlight,
    signal: shutdown.signal,
  });
  const backingChannels = new BackingChannelReconciler({
    kinds,
    store,
    adapters,
    directory,
    status,
    logger,
    channelAddress: (namespace, name) => `${baseUrl}/channels/${namespace}/${name}`,
    beforeTeardown: (runtime) => subscriptions.closeOn(runtime),
  });
  const channels = new ChannelReconciler({ kinds, store, admission, status });
  const brokers = new BrokerReconciler({
    kinds,
    store,
    admission,
    status,
    classes: brokerClassesOf(plugins),
    brokerAddress: (namespace, name) => `${baseUrl}/brokers/${namespace}/${name}`,
  });
  const sources = new SourceReconciler({
    config,
    logger,
    kinds,
    store,
    status,
    sender,
    metrics,
    sources: plugins.sources,
    baseUrl: () => baseUrl,
    onStatusChange: () => void loop.run(),
  });
  // One pass, in Knative's dependency order: owners ask for backing channels, the channels run,
  // owners report them (a Broker's address is what its Triggers reply to), consumers and sources follow.
  const loop = new ReconcileLoop(
    async () => {
      const problems = await backingChannels.materialize([...channels.requests(), ...brokers.requests()]);
      await backingChannels.reconcile();
      channels.report(problems);
      brokers.report(problems);
      await subscriptions.reconcile();
      await sources.reconcile();
    },
    store,
    logger,
    metrics,
  );
  const resources = new ResourceService(kinds, store, admission, loop);

  let started = false;
  const api = createApiApp({
    resources,
    registry: metrics.registry,
    maxBodyBytes: config.maxBodyBytes,
    readiness: async () => {
      const backends = await adapters.readiness();
      const ready = started && backends.every((backend) => backend.ready);
      return { ready, started, backends };
    },
    sourceRequest: (namespace, name, request) => sources.handleRequest(namespace, name, request),
  });
  const ingress = createIngressHandler(
    (kind, namespace, name) =>
      directory.lookup(kind, namespace, kind === "brokers" ? brokerChannelName(name) : name),
    {
      maxBodyBytes: config.maxBodyBytes,
      maxBatchEvents: config.maxBatchEvents,
      logger,
      tracing,
      metrics,
    },
  );
  const server: Server = createListener(certificate, {}, (req, res) => {
    const url = req.url ?? "/";
    const query = url.indexOf("?");
    const path = query === -1 ? url : url.slice(0, query);
    if (isIngressPath(path)) void ingress(req, res, path);
    else api(req, res);
  });
  server.keepAliveTimeout = config.keepAliveTimeoutMs;
  if (config.maxConnections !== undefined) server.maxConnections = config.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  baseUrl = publicBaseUrl({ ...config, port });
  await loop.start(options.resyncMs ?? 5_000);
  const configDirectory = config.configDir
    ? new ConfigDirectory(config.configDir, resources, logger)
    : undefined;
  if (configDirectory) {
    await configDirectory.load();
    configDirectory.watch();
  }
  started = true;
  const url = publicBaseUrl({ ...config, port, publicUrl: undefined });
  logger.info({ url, dataDir: config.dataDir, configDir: config.configDir }, "herald is serving");
  return {
    url,
    resources,
    metrics,
    close: async () => {
      started = false;
      configDirectory?.close();
      certificate?.close();
      // Stop taking events first, then let the dispatcher finish or hand back what is in flight.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Abort retry waits before waiting for the reconcile pass: a pass closing a consumer waits for
      // its deliveries in flight, which would otherwise sit out their backoff.
      shutdown.abort();
      await loop.stop();
      await sources.close();
      await subscriptions.close();
      await adapters.close();
      await sender.close();
      await tracing
        .shutdown()
        .catch((error: unknown) => logger.warn({ err: error }, "exporting the last spans failed"));
      server.closeAllConnections();
      await closed;
    },
  };
}
