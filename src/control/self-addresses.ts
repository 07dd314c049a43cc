import { networkInterfaces } from "node:os";
import { isLoopbackHost, isWildcardHost, normalizeHost } from "../auth/hosts.js";

/** One of Herald's HTTP listeners. */
export interface Listener {
  /** The host it is bound to, as configured (`127.0.0.1`, `0.0.0.0`, a name). */
  readonly host: string;
  readonly port: number;
  /** `api`: the resource API only; `ingress`: ingress, webhooks and health only; `both`: everything. */
  readonly serves: "api" | "ingress" | "both";
}

/** Paths of the data plane: a destination there sends events to one of Herald's channels or brokers. */
const INGRESS_PATH = /^\/(channels|brokers)\//;

function portOf(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === "https:" ? 443 : 80;
}

/**
 * The addresses at which Herald's own resource API answers, so that no destination (subscriber,
 * reply, dead-letter sink, source sink) points there: an event delivered to the API would be an
 * API call made with Herald's own network position. Host names are compared, not resolved: a name
 * that resolves to Herald but is none of its names is refused by the API's Host check instead.
 */
export class SelfAddresses {
  private readonly publicUrl: URL;
  /** The public base URL without a trailing slash, as channel and broker addresses start. */
  readonly baseUrl: string;
  private readonly names: readonly string[];
  private readonly localAddresses: ReadonlySet<string>;

  constructor(
    private readonly listeners: readonly Listener[],
    options: {
      /** Herald's public base URL (the main listener, possibly through a proxy). */
      readonly publicUrl: string;
      /** Other names that reach Herald (HERALD_ALLOWED_HOSTS; `.example.com` for every name under it). */
      readonly names?: readonly string[];
    },
  ) {
    this.publicUrl = new URL(options.publicUrl);
    this.baseUrl = options.publicUrl.replace(/\/$/, "");
    this.names = [normalizeHost(this.publicUrl.hostname), ...(options.names ?? []).map(normalizeHost)].filter(
      (name) => name !== "*",
    );
    this.localAddresses = new Set(
      Object.values(networkInterfaces())
        .flat()
        .flatMap((info) => (info ? [normalizeHost(info.address)] : [])),
    );
  }

  /** Whether sending to `url` would reach Herald's resource API. */
  reachesApi(url: URL): boolean {
    const host = normalizeHost(url.hostname);
    const port = portOf(url);
    const api = (serves: Listener["serves"]) =>
      serves === "api" || (serves === "both" && !INGRESS_PATH.test(url.pathname));
    for (const listener of this.listeners) {
      if (port === listener.port && this.reaches(host, listener.host) && api(listener.serves)) return true;
    }
    const main = this.listeners.find((listener) => listener.serves !== "api");
    return (
      main !== undefined &&
      host === normalizeHost(this.publicUrl.hostname) &&
      port === portOf(this.publicUrl) &&
      api(main.serves)
    );
  }

  /** Whether a connection to `host` may arrive at a listener bound to `bound`. */
  private reaches(host: string, bound: string): boolean {
    const bind = normalizeHost(bound);
    if (host === bind) return true;
    if (this.names.some((name) => (name.startsWith(".") ? host.endsWith(name) : host === name))) return true;
    const local = isLoopbackHost(host) || isWildcardHost(host);
    if (isWildcardHost(bind)) return local || this.localAddresses.has(host);
    return isLoopbackHost(bind) && local;
  }
}
