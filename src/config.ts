import { availableParallelism, homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { isLoopbackHost, isSecureEnough } from "./auth/hosts.js";
import { ROLES, type Role } from "./auth/roles.js";
import { booleanish, commaList, type ConfigSlice } from "./config-slice.js";

/**
 * Herald's one configuration object. Built once at start from (in order of precedence) command-line
 * flags, environment variables and defaults; everything else receives the parts it needs.
 * This is the only module that reads `process.env`.
 */
const positiveInt = z.coerce.number().int().positive();

export const configSchema = z.object({
  /** Interface and port of the HTTP server (ingress, resource API, metrics). */
  host: z.string().default("127.0.0.1"),
  port: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Base URL used in `status.address.url`; defaults to http(s)://{host}:{port}. */
  publicUrl: z.url().optional(),
  /** Where applied resources are persisted. */
  dataDir: z.string().default(".herald"),
  /** A folder of YAML manifests loaded at start and watched for changes. */
  configDir: z.string().optional(),
  logLevel: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  /** Largest accepted ingress request body, in bytes. */
  maxBodyBytes: positiveInt.default(4 * 1024 * 1024),
  /** The most events one batched ingress request may hold (413 above). */
  maxBatchEvents: positiveInt.default(1000),
  /** How long ingress waits for a backend to accept events before answering 503. */
  publishTimeoutMs: positiveInt.default(5_000),
  /** The channelTemplate a `Channel` (or a Broker with no channel configuration) gets. */
  defaultChannelKind: z.string().default("LogChannel"),
  /**
   * The URL of a Service a sink references (v1 Service, serving.knative.dev Service), from its
   * `{name}` and `{namespace}`; a SinkMapping overrides it for one Service. The default is where a
   * service answers in a docker-compose network; on Kubernetes use
   * `http://{name}.{namespace}.svc.cluster.local`.
   */
  serviceUrlTemplate: z
    .string()
    .default("http://{name}")
    .refine((template) => {
      if (!template.includes("{name}")) return false;
      const example = template.replaceAll("{name}", "name").replaceAll("{namespace}", "namespace");
      return URL.canParse(example) && /^https?:$/.test(new URL(example).protocol);
    }, "must be an http or https URL template with {name} (and optionally {namespace})"),
  /** The most resources the store holds (an apply beyond it is refused with 422). */
  maxResources: positiveInt.default(10_000),
  /** Whether source kinds that run a process (ProcessSource) may be applied through the API. */
  allowProcessSources: booleanish.default(false),
  /** Knative's eventtype-auto-create: events accepted by ingress create their EventTypes. */
  eventTypeAutoCreate: booleanish.default(false),
  dispatcher: z
    .object({
      /** Concurrent deliveries per subscription in unordered mode. */
      maxInFlight: positiveInt.default(100),
      /** Connections kept per subscriber origin. */
      connectionsPerOrigin: positiveInt.default(64),
      /** Ceiling of any single delivery attempt when the DeliverySpec sets no timeout. */
      defaultTimeoutMs: positiveInt.default(30_000),
    })
    .prefault({}),
  /**
   * The resource API's own listener. With `apiPort` the resource API and /metrics are served there
   * only, and the main port serves ingress, source webhooks, /healthz and /readyz.
   */
  apiHost: z.string().default("127.0.0.1"),
  apiPort: z.coerce.number().int().min(0).max(65535).optional(),
  /** Hashed bearer tokens of the resource API (YAML or JSON); authentication is on with it. */
  tokenFile: z.string().optional(),
  /** OIDC-issued JWTs for the resource API; authentication is on with an issuer. */
  oidc: z
    .object({
      issuer: z.url().optional(),
      audience: commaList.default([]),
      jwksUrl: z.url().optional(),
      roleClaim: z.string().min(1).default("herald_role"),
      /** `claim-value=role` pairs (`herald-admins=admin,herald-devs=write`). */
      roleMap: commaList
        .default([])
        .pipe(
          z.array(
            z
              .string()
              .regex(
                new RegExp(`^[^=]+=(${ROLES.join("|")})$`),
                `must be claim-value=role pairs, the role one of ${ROLES.join(", ")}`,
              ),
          ),
        ),
    })
    .prefault({}),
  /**
   * Knative's `authentication-oidc` feature: Brokers and Channels announce `status.address.audience`
   * and ingress asks every request for a JWT issued for that audience (EventPolicy then decides who).
   */
  authenticationOidc: z
    .enum(["enabled", "disabled"], { error: 'must be "enabled" or "disabled"' })
    .default("disabled"),
  /** Knative's `default-authorization-mode`: what ingress allows when no EventPolicy applies. */
  defaultAuthorizationMode: z
    .enum(["allow-same-namespace", "allow-all", "deny-all"], {
      error: 'must be "allow-same-namespace", "allow-all" or "deny-all"',
    })
    .default("allow-same-namespace"),
  /** The issuer whose JWTs ingress accepts besides Herald's own (with authenticationOidc). */
  ingressOidc: z
    .object({
      issuer: z.url().optional(),
      jwksUrl: z.url().optional(),
    })
    .prefault({}),
  /** Host names the resource API answers to besides IP addresses, loopback names and the public URL's host. */
  allowedHosts: commaList.default([]),
  /** Browser origins allowed to call the resource API besides Herald's own. */
  allowedOrigins: commaList.default([]),
  /** Origins granted by ingress's webhook validation handshake (OPTIONS); empty grants any. */
  webhookAllowedOrigins: commaList.default([]),
  /** Longest time a client may take to send a whole request, and its headers. */
  requestTimeoutMs: positiveInt.default(30_000),
  headersTimeoutMs: positiveInt.default(20_000),
  tracing: z
    .object({
      /** OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces; tracing is off without it. */
      endpoint: z.url().optional(),
      serviceName: z.string().default("herald"),
    })
    .prefault({}),
  /**
   * HTTPS for every listener (ingress and the resource API), and how https destinations are
   * verified. The certificate and key are read again when either file changes.
   */
  tls: z
    .object({
      certFile: z.string().min(1).optional(),
      keyFile: z.string().min(1).optional(),
      /** PEM CAs trusted for https destinations besides the system's. */
      caFile: z.string().min(1).optional(),
      /** A client certificate and key presented to destinations that ask for one. */
      clientCertFile: z.string().min(1).optional(),
      clientKeyFile: z.string().min(1).optional(),
    })
    .prefault({})
    .superRefine((tls, context) => {
      const pairs = [
        ["certFile", "keyFile"],
        ["clientCertFile", "clientKeyFile"],
      ] as const;
      for (const [cert, key] of pairs) {
        if ((tls[cert] === undefined) !== (tls[key] === undefined)) {
          const missing = tls[cert] === undefined ? cert : key;
          context.addIssue({
            code: "custom",
            path: [missing],
            message: `is required with ${missing === cert ? key : cert}: a certificate and its key go together`,
          });
        }
      }
    }),
  /** Most connections each listener holds at once (unlimited when unset). */
  maxConnections: positiveInt.optional(),
  /** How long a listener keeps an idle keep-alive connection open. */
  keepAliveTimeoutMs: positiveInt.default(65_000),
  /**
   * Processes that serve ingress, dispatch and the API on the same ports (`serve --workers`);
   * `auto` is one per available core. 1 runs Herald in one process.
   */
  workers: z
    .union([z.literal("auto").transform(() => availableParallelism()), positiveInt], {
      error: 'must be a positive whole number or "auto"',
    })
    .default(1),
});

/** The core settings. */
export type CoreConfig = z.output<typeof configSchema>;
/**
 * The whole configuration: the core settings plus one slice per plug-in under its key
 * (`kafka`, `rabbitmq`...), read with `sliceOf`.
 */
export type HeraldConfig = CoreConfig & { readonly [slice: string]: unknown };
export type HeraldConfigInput = z.input<typeof configSchema> & Record<string, unknown>;

/** A plug-in's validated settings. */
export function sliceOf<Config>(config: HeraldConfig, slice: ConfigSlice<Config>): Config {
  return config[slice.key] as Config;
}

type Env = Readonly<Record<string, string | undefined>>;

/** The environment variables of the core settings, by the config path they set. */
export const environmentVariables = {
  HERALD_HOST: "host",
  HERALD_PORT: "port",
  HERALD_PUBLIC_URL: "publicUrl",
  HERALD_DATA_DIR: "dataDir",
  HERALD_CONFIG_DIR: "configDir",
  HERALD_LOG_LEVEL: "logLevel",
  HERALD_MAX_BODY_BYTES: "maxBodyBytes",
  HERALD_MAX_BATCH_EVENTS: "maxBatchEvents",
  HERALD_DEFAULT_CHANNEL_KIND: "defaultChannelKind",
  HERALD_SERVICE_URL_TEMPLATE: "serviceUrlTemplate",
  HERALD_MAX_RESOURCES: "maxResources",
  HERALD_ALLOW_PROCESS_SOURCES: "allowProcessSources",
  HERALD_EVENTTYPE_AUTO_CREATE: "eventTypeAutoCreate",
  HERALD_PUBLISH_TIMEOUT_MS: "publishTimeoutMs",
  HERALD_DISPATCHER_MAX_IN_FLIGHT: "dispatcher.maxInFlight",
  HERALD_DISPATCHER_CONNECTIONS_PER_ORIGIN: "dispatcher.connectionsPerOrigin",
  HERALD_DISPATCHER_DEFAULT_TIMEOUT_MS: "dispatcher.defaultTimeoutMs",
  HERALD_TRACING_ENDPOINT: "tracing.endpoint",
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "tracing.endpoint",
  OTEL_SERVICE_NAME: "tracing.serviceName",
  HERALD_TLS_CERT_FILE: "tls.certFile",
  HERALD_TLS_KEY_FILE: "tls.keyFile",
  HERALD_TLS_CA_FILE: "tls.caFile",
  HERALD_TLS_CLIENT_CERT_FILE: "tls.clientCertFile",
  HERALD_TLS_CLIENT_KEY_FILE: "tls.clientKeyFile",
  HERALD_MAX_CONNECTIONS: "maxConnections",
  HERALD_KEEP_ALIVE_TIMEOUT_MS: "keepAliveTimeoutMs",
  HERALD_API_HOST: "apiHost",
  HERALD_API_PORT: "apiPort",
  HERALD_TOKEN_FILE: "tokenFile",
  HERALD_OIDC_ISSUER: "oidc.issuer",
  HERALD_OIDC_AUDIENCE: "oidc.audience",
  HERALD_OIDC_JWKS_URL: "oidc.jwksUrl",
  HERALD_OIDC_ROLE_CLAIM: "oidc.roleClaim",
  HERALD_OIDC_ROLE_MAP: "oidc.roleMap",
  HERALD_AUTHENTICATION_OIDC: "authenticationOidc",
  HERALD_DEFAULT_AUTHORIZATION_MODE: "defaultAuthorizationMode",
  HERALD_INGRESS_OIDC_ISSUER: "ingressOidc.issuer",
  HERALD_INGRESS_OIDC_JWKS_URL: "ingressOidc.jwksUrl",
  HERALD_ALLOWED_HOSTS: "allowedHosts",
  HERALD_ALLOWED_ORIGINS: "allowedOrigins",
  HERALD_WEBHOOK_ALLOWED_ORIGINS: "webhookAllowedOrigins",
  HERALD_REQUEST_TIMEOUT_MS: "requestTimeoutMs",
  HERALD_HEADERS_TIMEOUT_MS: "headersTimeoutMs",
  HERALD_WORKERS: "workers",
} as const;

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let node = target;
  for (const key of keys.slice(0, -1)) {
    node = (node[key] ??= {}) as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}

function mergeDeep(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const current = out[key];
    out[key] =
      value && typeof value === "object" && !Array.isArray(value) && current && typeof current === "object"
        ? mergeDeep(current as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

/** Every environment variable Herald reads, by the config path it sets: the core's and each slice's. */
export function variablesOf(slices: readonly ConfigSlice[]): Record<string, string> {
  const out: Record<string, string> = { ...environmentVariables };
  for (const slice of slices)
    for (const [variable, path] of Object.entries(slice.variables)) out[variable] = `${slice.key}.${path}`;
  return out;
}

/** The composed schema: the core settings plus each slice under its key. */
export function schemaOf(slices: readonly ConfigSlice[]): z.ZodType<HeraldConfig> {
  const shape: Record<string, z.ZodType> = {};
  for (const slice of slices) {
    if (slice.key in configSchema.shape || slice.key in shape)
      throw new Error(`configuration key ${slice.key} is declared twice`);
    shape[slice.key] = slice.schema;
  }
  const withDefaults = Object.fromEntries(
    Object.entries(shape).map(([key, schema]) => [key, z.preprocess((value) => value ?? {}, schema)]),
  );
  return configSchema.extend(withDefaults) as unknown as z.ZodType<HeraldConfig>;
}

/**
 * Builds the configuration from flags (already shaped like the schema) over environment variables
 * over defaults, for the core and the given plug-in slices. Throws ConfigError listing every invalid
 * setting by its path and variable.
 */
export function loadConfig(
  flags: HeraldConfigInput | Record<string, unknown> = {},
  env: Env = process.env,
  slices: readonly ConfigSlice[] = [],
): HeraldConfig {
  const variables = variablesOf(slices);
  const fromEnv: Record<string, unknown> = {};
  for (const [variable, path] of Object.entries(variables)) {
    const value = env[variable];
    if (value !== undefined && value !== "") setPath(fromEnv, path, value);
  }
  for (const slice of slices) {
    const extra = slice.fromEnvironment?.(env);
    if (extra) fromEnv[slice.key] = mergeDeep(extra, (fromEnv[slice.key] ?? {}) as Record<string, unknown>);
  }
  const parsed = schemaOf(slices).safeParse(mergeDeep(fromEnv, flags));
  const variableOf = Object.fromEntries(Object.entries(variables).map(([k, v]) => [v, k]));
  const named = (path: string, message: string) =>
    `${path}${variableOf[path] ? ` (${variableOf[path]})` : ""}: ${message}`;
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => named(issue.path.join("."), issue.message)));
  }
  const problems = securityProblems(parsed.data);
  if (problems.length > 0) throw new ConfigError(problems.map((p) => named(p.path, p.message)));
  return parsed.data;
}

/** Whether the resource API asks callers for a bearer token (a token file or an OIDC issuer is set). */
export function isAuthenticationOn(config: CoreConfig): boolean {
  return config.tokenFile !== undefined || config.oidc.issuer !== undefined;
}

/** Where the resource API listens: its own listener with `apiPort`, else the main one. */
export function apiListenerHost(config: CoreConfig): { path: string; host: string } {
  return config.apiPort === undefined
    ? { path: "host", host: config.host }
    : { path: "apiHost", host: config.apiHost };
}

/**
 * Settings that would leave Herald open. Without authentication the resource API (which can run
 * commands through ProcessSource) listens on loopback only: Herald refuses to start otherwise.
 */
function securityProblems(config: CoreConfig): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  const api = apiListenerHost(config);
  if (!isAuthenticationOn(config) && !isLoopbackHost(api.host)) {
    problems.push({
      path: api.path,
      message:
        `the resource API would listen on ${api.host} without authentication, open to anyone who reaches it. ` +
        "Configure bearer tokens (`herald token create NAME --role admin --token-file FILE`, then " +
        "--token-file FILE or HERALD_TOKEN_FILE) or OIDC (HERALD_OIDC_ISSUER and HERALD_OIDC_AUDIENCE), " +
        "or keep the API on loopback: --api-port PORT serves it on its own port, on --api-host (127.0.0.1 " +
        "by default), and the main port then serves ingress only",
    });
  }
  if (config.apiPort !== undefined && config.apiPort !== 0 && config.apiPort === config.port)
    problems.push({ path: "apiPort", message: "must differ from the main port" });
  const { issuer, audience, jwksUrl } = config.oidc;
  if (issuer !== undefined) {
    if (!isSecureEnough(issuer))
      problems.push({ path: "oidc.issuer", message: "must be an https URL (http only on loopback)" });
    if (audience.length === 0)
      problems.push({
        path: "oidc.audience",
        message: "is required with an issuer: the audience (aud) Herald's tokens are issued for",
      });
  }
  if (jwksUrl !== undefined && !isSecureEnough(jwksUrl))
    problems.push({ path: "oidc.jwksUrl", message: "must be an https URL (http only on loopback)" });
  for (const [path, url] of [
    ["ingressOidc.issuer", config.ingressOidc.issuer],
    ["ingressOidc.jwksUrl", config.ingressOidc.jwksUrl],
  ] as const)
    if (url !== undefined && !isSecureEnough(url))
      problems.push({ path, message: "must be an https URL (http only on loopback)" });
  if (config.ingressOidc.issuer !== undefined && config.authenticationOidc !== "enabled")
    problems.push({
      path: "ingressOidc.issuer",
      message: "is used only with authenticationOidc enabled (HERALD_AUTHENTICATION_OIDC=enabled)",
    });
  if (config.headersTimeoutMs > config.requestTimeoutMs)
    problems.push({
      path: "headersTimeoutMs",
      message: `must not exceed requestTimeoutMs (${config.requestTimeoutMs})`,
    });
  return problems;
}

/** The OIDC role map as a record (`herald-admins=admin` → { "herald-admins": "admin" }). */
export function oidcRoleMap(config: CoreConfig): Record<string, Role> {
  const map: Record<string, Role> = {};
  for (const pair of config.oidc.roleMap) {
    const at = pair.lastIndexOf("=");
    map[pair.slice(0, at).trim()] = pair.slice(at + 1) as Role;
  }
  return map;
}

/** The base URL addresses are built on. */
export function publicBaseUrl(config: HeraldConfig): string {
  if (config.publicUrl) return config.publicUrl.replace(/\/$/, "");
  const host = config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host;
  const scheme = config.tls.certFile ? "https" : "http";
  return `${scheme}://${host.includes(":") ? `[${host}]` : host}:${config.port}`;
}

/** The Herald server the CLI talks to: --server, else HERALD_SERVER, else the default port on loopback. */
export function cliServerUrl(flag: string | undefined, env: Env = process.env): string {
  return (flag ?? env.HERALD_SERVER ?? "http://127.0.0.1:8080").replace(/\/$/, "");
}

/**
 * What the CLI reads from its environment: the server and token variables, and where its config
 * file (contexts of server and token) is: HERALD_CONFIG, else ~/.config/herald/config.yaml.
 */
export function cliEnvironment(env: Env = process.env): {
  server: string | undefined;
  token: string | undefined;
  tokenFile: string | undefined;
  configFile: string;
  configFileNamed: boolean;
} {
  const blankless = (value: string | undefined) => (value === undefined || value === "" ? undefined : value);
  return {
    server: blankless(env.HERALD_SERVER),
    token: blankless(env.HERALD_TOKEN),
    tokenFile: blankless(env.HERALD_TOKEN_FILE),
    configFile:
      blankless(env.HERALD_CONFIG) ??
      join(blankless(env.HOME) ?? homedir(), ".config", "herald", "config.yaml"),
    configFileNamed: blankless(env.HERALD_CONFIG) !== undefined,
  };
}

/**
 * The environment of a process Herald starts (ProcessSource): `extra` (the source's `spec.env` and
 * its `K_` variables) over an allow-list of Herald's own variables (PATH, HOME, LANG, TZ). Nothing
 * else is inherited, so Herald's secrets (HERALD_KAFKA_SASL_PASSWORD, HERALD_RABBITMQ_URL,
 * GOOGLE_APPLICATION_CREDENTIALS...) never reach the child.
 */
export function childEnvironment(
  extra: Record<string, string>,
  env: Env = process.env,
): Record<string, string> {
  const inherited: Record<string, string> = {};
  for (const name of ["PATH", "HOME", "LANG", "TZ"]) {
    const value = env[name];
    if (value !== undefined) inherited[name] = value;
  }
  return { ...inherited, ...extra };
}
