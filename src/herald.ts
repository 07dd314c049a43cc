import type { RequestListener, Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { createApiApp, createPublicApp, type ApiDeps } from "./api/app.js";
import type { HeraldWorker } from "./cluster/replica-store.js";
import { Authenticator } from "./auth/authenticator.js";
import { isWildcardHost } from "./auth/hosts.js";
import { IdentityIssuer } from "./auth/identity.js";
import { IngressVerifier } from "./auth/ingress-verifier.js";
import { oidcRoleMap, publicBaseUrl, type HeraldConfig } from "./config.js";
import { AdapterRegistry } from "./control/adapters.js";
import { Admission } from "./control/admission.js";
import { BackingChannelReconciler } from "./control/backing-channels.js";
import { BrokerReconciler } from "./control/broker-reconciler.js";
import { brokerChannelName } from "./control/brokers.js";
import { ChannelReconciler } from "./control/channel-reconciler.js";
import { ConfigDirectory } from "./control/config-dir.js";
import { ChannelDirectory } from "./control/directory.js";
import { EventPolicyReconciler } from "./control/event-policies.js";
import { EventRecorder } from "./control/event-recorder.js";
import { ingressAddresses } from "./control/ingress-policies.js";
import { ProcessSourceGate } from "./control/process-sources.js";
import { ReconcileLoop } from "./control/reconcile-loop.js";
import { ResourceService } from "./control/resource-service.js";
import { SelfAddresses, type Listener } from "./control/self-addresses.js";
import { SourceReconciler } from "./control/source-reconciler.js";
import { StatusWriter } from "./control/status.js";
import { ResourceStore } from "./control/store.js";
import { DeadLetterService } from "./control/dead-letters.js";
import { ReplayService } from "./control/replay.js";
import { SubscriptionReconciler } from "./control/subscription-reconciler.js";
import { TopologyReconciler } from "./control/topology-reconciler.js";
import { Sender } from "./dispatcher/sender.js";
import { EventTypeReconciler } from "./eventtypes/event-types.js";
import { ParallelReconciler } from "./flows/parallel.js";
import { SequenceReconciler } from "./flows/sequence.js";
import { SinkEndpoints, isSinkPath } from "./sinks/endpoints.js";
import { EventTransformReconciler } from "./sinks/event-transform.js";
import { IntegrationSinkReconciler } from "./sinks/integration-sink.js";
import { JobSinkReconciler } from "./sinks/job-sink.js";
import { KafkaSinkReconciler } from "./sinks/kafka-sink.js";
import { IngressPolicies } from "./ingress/authorization.js";
import { createIngressHandler, isIngressPath } from "./ingress/ingress.js";
import { Metrics } from "./metrics.js";
import { coreKinds } from "./resources/kinds.js";
import type { KafkaSettings } from "../adapters/kafka/config.js";
import { brokerClassesOf, kindsOf, topologyKindsOf, type HeraldPlugins } from "./plugins.js";
import { createListener, loadClientTls, ServerCertificate } from "./tls.js";
import { createTracing } from "./tracing.js";

export interface HeraldOptions {
  readonly config: HeraldConfig;
  readonly logger: Logger;
  readonly plugins: HeraldPlugins;
  /** How often every resource is reconciled again besides on changes (default 5 s). */
  readonly resyncMs?: number;
  /** One worker of `serve --workers N`: the primary's store, whether it leads, /metrics of all. */
  readonly worker?: HeraldWorker;
}

export interface Herald {
  /** Where Herald listens (the bound port, also when the configured port is 0). */
  readonly url: string;
  /** Where the resource API answers: `url`, or the API's own listener with `apiPort`. */
  readonly apiUrl: string;
  readonly resources: ResourceService;
  readonly metrics: Metrics;
  close(): Promise<void>;
}

/**
 * Builds and starts one Herald: its kind registry, metrics, store, adapters and reconcilers, all
 * owned by this instance (nothing lives at module level, so several run side by side in one
 * process), then serves ingress and the resource API (on one port, or each on its own with
 * `apiPort`), reconciles, and loads the config folder when one is given.
 */
export async function createHerald(options: HeraldOptions): Promise<Herald> {
  const { config, logger, plugins } = options;
  const kinds = kindsOf(plugins);
  const metrics = new Metrics();
  const store =
    options.worker?.store ??
    new ResourceStore({
      dataDir: config.dataDir,
      kinds,
      logger,
      maxResources: config.maxResources,
    });
  // Only the leading worker (or the one Herald) loads the config folder and runs the sources.
  const leads = options.worker?.leads ?? true;
  await store.load();
  const adapters = new AdapterRegistry(plugins.channels, config, logger, metrics);
  // Herald's own OIDC issuer (its key kept in the data directory): deliveries to a destination with
  // an audience carry a token it signs; its issuer URL is the public base URL, known once bound.
  const bases: { url?: string } = {};
  const identity = await IdentityIssuer.open(config.dataDir, () => bases.url ?? publicBaseUrl(config));
  const sender = new Sender({
    identity,
    connectionsPerOrigin: config.dispatcher.connectionsPerOrigin,
    defaultTimeoutMs: config.dispatcher.defaultTimeoutMs,
    tls: loadClientTls(config.tls),
  });
  const { certFile, keyFile } = config.tls;
  const certificate = certFile && keyFile ? ServerCertificate.load({ certFile, keyFile }, logger) : undefined;
  const tracing = createTracing(config.tracing);
  // Kubernetes Events about status changes, recorded by the one Herald (or worker) writing status.
  const events = leads ? new EventRecorder({ store, logger }) : undefined;
  const status = new StatusWriter(store, events);
  const directory = new ChannelDirectory(config.publishTimeoutMs);
  // Herald's own addresses, known once its listeners are bound (admission keeps destinations off the API).
  const bound: { self?: SelfAddresses } = {};
  const admission = new Admission(kinds, store, config.defaultChannelKind, () => bound.self);
  const authenticator = await Authenticator.create(
    {
      tokenFile: config.tokenFile,
      oidc: config.oidc.issuer
        ? {
            issuer: config.oidc.issuer,
            audience: config.oidc.audience,
            jwksUrl: config.oidc.jwksUrl,
            roleClaim: config.oidc.roleClaim,
            roleMap: oidcRoleMap(config),
          }
        : undefined,
    },
    logger,
  );
  const shutdown = new AbortController();
  let baseUrl = publicBaseUrl(config);
  const eventPolicies = new EventPolicyReconciler({
    kinds,
    store,
    status,
    settings: { oidc: config.authenticationOidc === "enabled", defaultMode: config.defaultAuthorizationMode },
  });
  const ingressPolicies = new IngressPolicies();
  const ingressVerifier = eventPolicies.enabled
    ? new IngressVerifier(
        identity,
        config.ingressOidc.issuer
          ? { issuer: config.ingressOidc.issuer, jwksUrl: config.ingressOidc.jwksUrl }
          : undefined,
      )
    : undefined;

  const replays = new ReplayService({
    store,
    logger,
    consumers: (): SubscriptionReconciler => subscriptions,
  });
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
    serviceUrlTemplate: config.serviceUrlTemplate,
    authenticationOidc: config.authenticationOidc === "enabled",
    signal: shutdown.signal,
    replays,
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
    eventPolicies,
  });
  const channels = new ChannelReconciler({ kinds, store, admission, status, eventPolicies });
  // The Kafka channel plug-in's settings (its `kafka` configuration slice), when it runs: the
  // servers Kafka Brokers run on and the addresses manifests name for them.
  const kafka = config.kafka as Pick<KafkaSettings, "bootstrapServers" | "bootstrapAliases"> | undefined;
  const brokers = new BrokerReconciler({
    kinds,
    store,
    admission,
    status,
    classes: brokerClassesOf(plugins),
    brokerAddress: (namespace, name) => `${baseUrl}/brokers/${namespace}/${name}`,
    eventPolicies,
    serviceUrlTemplate: config.serviceUrlTemplate,
    kafka: kafka && { bootstrapServers: kafka.bootstrapServers, aliases: kafka.bootstrapAliases },
  });
  const sequences = new SequenceReconciler({ kinds, store, admission, status });
  const parallels = new ParallelReconciler({ kinds, store, admission, status });
  const sinkEndpoints = new SinkEndpoints({
    maxBodyBytes: config.maxBodyBytes,
    logger,
    audience: (plural, namespace, name) => {
      const definition = kinds.withRole("sink").find((sink) => sink.plural === plural);
      return definition && eventPolicies.audience(definition.group, definition.kind, namespace, name);
    },
    authenticate: ingressVerifier
      ? (plural, namespace, name, authorization) =>
          ingressPolicies.authenticate(ingressVerifier, `sinks/${plural}`, namespace, name, authorization)
      : undefined,
  });
  const sinkDeps = {
    kinds,
    store,
    status,
    sender,
    logger,
    endpoints: sinkEndpoints,
    serviceUrlTemplate: config.serviceUrlTemplate,
    baseUrl: () => baseUrl,
  };
  const eventTransforms = new EventTransformReconciler(sinkDeps);
  const integrationSinks = new IntegrationSinkReconciler(sinkDeps);
  const processes = new ProcessSourceGate(plugins.sources, config.allowProcessSources, [coreKinds.jobSink]);
  const jobSinks = new JobSinkReconciler({ ...sinkDeps, processes, dataDir: config.dataDir });
  const kafkaSinks = new KafkaSinkReconciler({
    ...sinkDeps,
    kafkaBootstrapAliases: kafka?.bootstrapAliases,
    onStatusChange: () => void loop.run(),
  });
  const eventTypes = new EventTypeReconciler({
    kinds,
    store,
    status,
    logger,
    autoCreate: config.eventTypeAutoCreate,
    maxResources: config.maxResources,
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
    processes,
  });
  const topology = new TopologyReconciler({
    config,
    logger,
    kinds,
    store,
    status,
    topologyKinds: topologyKindsOf(plugins),
  });
  // One pass, in Knative's dependency order: owners ask for backing channels, the channels run,
  // owners report them (a Broker's address is what its Triggers reply to), consumers and sources follow.
  const loop = new ReconcileLoop(
    async () => {
      eventPolicies.reconcile();
      const problems = await backingChannels.materialize([
        ...channels.requests(),
        ...brokers.requests(),
        ...sequences.requests(),
        ...parallels.requests(),
      ]);
      await backingChannels.reconcile();
      channels.report(problems);
      brokers.report(problems);
      ingressPolicies.replace(
        ingressAddresses(
          eventPolicies,
          { store, kinds },
          (kind, namespace, name) => directory.atAddress(namespace, name)?.kind === kind,
        ),
      );
      // Sinks are addressable before the Subscriptions, Triggers and sources that send to them.
      eventTransforms.reconcile();
      integrationSinks.reconcile();
      jobSinks.reconcile();
      await kafkaSinks.reconcile();
      // Flows write their Subscriptions (and their address) first, and report theirs after them.
      await sequences.subscribe(problems);
      await parallels.subscribe(problems);
      await subscriptions.reconcile();
      sequences.report(problems);
      parallels.report(problems);
      // The queues and exchanges a RabbitmqSource consumes from are declared before it starts, by
      // the worker that runs the sources.
      if (leads) await topology.reconcile();
      if (leads) await sources.reconcile();
      await eventTypes.reconcile();
    },
    store,
    logger,
    metrics,
  );
  const resources = new ResourceService(kinds, store, admission, loop, processes);
  // Another worker's change, or the leader's statuses, arrived from the primary.
  options.worker?.store.onChange(() => loop.run());

  let started = false;
  const separate = config.apiPort !== undefined;
  // The API answers Host names that are IP addresses, loopback names, the public URL's host, the
  // configured bind hosts and HERALD_ALLOWED_HOSTS; browser origins that are its own or configured.
  const namedHosts = [config.host, config.apiHost].filter((host) => !isWildcardHost(host));
  const allowedHosts = [
    ...config.allowedHosts,
    ...namedHosts,
    ...(config.publicUrl ? [new URL(config.publicUrl).hostname] : []),
  ];
  let allowedOrigins: readonly string[] = config.allowedOrigins;
  const deps: ApiDeps = {
    resources,
    registry: options.worker?.registry ?? metrics.registry,
    maxBodyBytes: config.maxBodyBytes,
    logger,
    authenticator,
    browser: { allowedHosts, allowedOrigins: () => allowedOrigins },
    readiness: async () => {
      const backends = await adapters.readiness();
      const ready = started && backends.every((backend) => backend.ready);
      return { ready, started, backends };
    },
    sourceRequest: (namespace, name, request) => sources.handleRequest(namespace, name, request),
    replays,
    deadLetters: new DeadLetterService({ directory, sender, logger, dataDir: config.dataDir }),
    wellKnown: { openidConfiguration: () => identity.openidConfiguration(), jwks: () => identity.jwks() },
  };
  const publicApp = createPublicApp(deps);
  const api = createApiApp(deps);
  const ingress = createIngressHandler(
    (kind, namespace, name) =>
      eventTypes.observing(
        directory.lookup(kind, namespace, kind === "brokers" ? brokerChannelName(name) : name),
        () => eventTypes.ingressAddress(kind, namespace, name, directory.atAddress(namespace, name)?.kind),
      ),
    {
      maxBodyBytes: config.maxBodyBytes,
      maxBatchEvents: config.maxBatchEvents,
      logger,
      tracing,
      metrics,
      webhookAllowedOrigins: config.webhookAllowedOrigins.map((origin) => origin.toLowerCase()),
      authentication: ingressVerifier ? { verifier: ingressVerifier, policies: ingressPolicies } : undefined,
    },
  );
  // Slow clients (slowloris) are cut off: the whole request within requestTimeoutMs, its headers
  // within headersTimeoutMs, checked every second.
  const serve = (listener: RequestListener): Server => {
    const created = createListener(
      certificate,
      {
        requestTimeout: config.requestTimeoutMs,
        headersTimeout: config.headersTimeoutMs,
        connectionsCheckingInterval: 1_000,
      },
      listener,
    );
    created.keepAliveTimeout = config.keepAliveTimeoutMs;
    if (config.maxConnections !== undefined) created.maxConnections = config.maxConnections;
    return created;
  };
  const server = serve((req, res) => {
    const url = req.url ?? "/";
    const query = url.indexOf("?");
    const path = query === -1 ? url : url.slice(0, query);
    if (isIngressPath(path)) void ingress(req, res, path);
    else if (isSinkPath(path)) void sinkEndpoints.handle(req, res, path);
    else if (separate || path.startsWith("/sources/")) publicApp(req, res);
    else api(req, res);
  });
  const apiServer = separate ? serve(api) : undefined;
  const listen = (target: Server, port: number, host: string) =>
    new Promise<number>((resolve, reject) => {
      target.once("error", reject);
      target.listen(port, host, () => resolve((target.address() as AddressInfo).port));
    });
  const port = await listen(server, config.port, config.host);
  let apiPort = port;
  if (apiServer) {
    try {
      apiPort = await listen(apiServer, config.apiPort!, config.apiHost);
    } catch (error) {
      server.close();
      authenticator.close();
      throw error;
    }
  }
  const listenerUrl = (host: string, at: number) =>
    publicBaseUrl({ ...config, host, port: at, publicUrl: undefined });
  const apiUrl = apiServer ? listenerUrl(config.apiHost, apiPort) : listenerUrl(config.host, port);
  allowedOrigins = [
    ...config.allowedOrigins,
    ...["127.0.0.1", "localhost", "[::1]"].map(
      (host) => `${certificate ? "https" : "http"}://${host}:${apiPort}`,
    ),
    apiUrl,
    ...(apiServer ? [] : [publicBaseUrl({ ...config, port })]),
  ];
  baseUrl = publicBaseUrl({ ...config, port });
  bases.url = baseUrl;
  const listeners: Listener[] = apiServer
    ? [
        { host: config.host, port, serves: "ingress" },
        { host: config.apiHost, port: apiPort, serves: "api" },
      ]
    : [{ host: config.host, port, serves: "both" }];
  bound.self = new SelfAddresses(listeners, { publicUrl: baseUrl, names: config.allowedHosts });
  // The config folder before the first pass of its own: its resources are then reconciled as applied
  // from it (a ProcessSource there runs without --allow-process-sources), not as left from before.
  const configDirectory =
    config.configDir && leads ? new ConfigDirectory(config.configDir, resources, logger) : undefined;
  if (configDirectory) {
    await configDirectory.load();
    configDirectory.watch();
  }
  await loop.start(options.resyncMs ?? 5_000);
  started = true;
  const url = listenerUrl(config.host, port);
  logger.info(
    {
      url,
      apiUrl,
      authentication: authenticator.enabled ? "bearer tokens" : "off (resource API on loopback only)",
      dataDir: config.dataDir,
      configDir: config.configDir,
    },
    "herald is serving",
  );
  return {
    url,
    apiUrl,
    resources,
    metrics,
    close: async () => {
      started = false;
      configDirectory?.close();
      certificate?.close();
      // Stop taking events first, then let the dispatcher finish or hand back what is in flight.
      const closed = Promise.all(
        [server, ...(apiServer ? [apiServer] : [])].map(
          (target) => new Promise<void>((resolve) => target.close(() => resolve())),
        ),
      );
      server.closeIdleConnections();
      apiServer?.closeIdleConnections();
      authenticator.close();
      // Abort retry waits before waiting for the reconcile pass: a pass closing a consumer waits for
      // its deliveries in flight, which would otherwise sit out their backoff.
      shutdown.abort();
      await loop.stop();
      await events?.close();
      await sources.close();
      await jobSinks.close();
      await kafkaSinks.close();
      await subscriptions.close();
      await adapters.close();
      await sender.close();
      await tracing
        .shutdown()
        .catch((error: unknown) => logger.warn({ err: error }, "exporting the last spans failed"));
      server.closeAllConnections();
      apiServer?.closeAllConnections();
      await closed;
    },
  };
}
