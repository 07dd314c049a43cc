import type { NextFunction, Request, RequestHandler, Response } from "express";
import { HeraldError } from "../errors.js";
import type { Authenticator } from "./authenticator.js";
import { hostOfHeader, isIpLiteral, isLoopbackHost, normalizeHost } from "./hosts.js";
import { ANONYMOUS, roleAllows, type Principal, type Role } from "./roles.js";

export interface BrowserGuardOptions {
  /**
   * Host names the API answers to besides IP addresses and loopback names (the public URL's host,
   * HERALD_ALLOWED_HOSTS). `*` allows any; `.example.com` allows every name under example.com.
   */
  readonly allowedHosts: readonly string[];
  /** Browser origins allowed to call the API (Herald's own, HERALD_ALLOWED_ORIGINS); `*` allows any. */
  readonly allowedOrigins: () => readonly string[];
}

function originOf(value: string): string | undefined {
  return URL.canParse(value) ? new URL(value).origin : undefined;
}

function hostAllowed(host: string, allowed: readonly string[]): boolean {
  if (isIpLiteral(host) || isLoopbackHost(host)) return true;
  return allowed.some((entry) => {
    const name = normalizeHost(entry);
    if (name === "*") return true;
    return name.startsWith(".") ? host.endsWith(name) : host === name;
  });
}

/**
 * Stops the browser attacks on an API reached from a victim's machine. DNS rebinding: a page of an
 * attacker's domain whose name now resolves to 127.0.0.1 sends `Host: evil.example`; the API
 * answers only Host names it knows (an IP address cannot be rebound). Cross-site requests: a page
 * of another origin sends its `Origin` (browsers add it to every cross-origin POST, even in
 * `no-cors` mode); the API answers only Herald's own origins and the configured ones. Both get 403.
 * Allowed foreign origins also get CORS headers, and their preflight (OPTIONS) is answered.
 */
export function browserGuard(options: BrowserGuardOptions): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const hostHeader = req.headers.host;
    if (hostHeader !== undefined) {
      const host = hostOfHeader(hostHeader);
      if (!hostAllowed(host, options.allowedHosts))
        throw new HeraldError(
          "Forbidden",
          `Host ${host} is not a name this Herald answers to (as in a DNS rebinding attack); if it is yours, add it to HERALD_ALLOWED_HOSTS`,
        );
    }
    const originHeader = req.headers.origin;
    if (originHeader === undefined) return next();
    const allowed = options.allowedOrigins();
    const origin = originOf(originHeader);
    const own =
      origin !== undefined &&
      hostHeader !== undefined &&
      origin === originOf(`${req.protocol}://${hostHeader}`);
    if (
      !own &&
      !allowed.includes("*") &&
      (origin === undefined || !allowed.some((entry) => originOf(entry) === origin))
    )
      throw new HeraldError(
        "Forbidden",
        `requests from the web page origin ${originHeader} are refused (cross-site request); if it is yours, add it to HERALD_ALLOWED_ORIGINS`,
      );
    if (own) return next();
    res.vary("Origin");
    res.set("access-control-allow-origin", originHeader);
    if (req.method === "OPTIONS") {
      res
        .status(204)
        .set({
          "access-control-allow-methods": "GET, POST, PUT, DELETE",
          "access-control-allow-headers": "authorization, content-type",
          "access-control-max-age": "600",
        })
        .end();
      return;
    }
    next();
  };
}

/** Authenticates every request (see Authenticator) and keeps the principal for the handlers. */
export function authenticate(authenticator: Authenticator): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    try {
      res.locals.principal = await authenticator.authenticate(req.headers.authorization);
    } catch (error) {
      if (error instanceof HeraldError && error.code === "Unauthorized")
        res.set(
          "www-authenticate",
          req.headers.authorization
            ? 'Bearer realm="herald", error="invalid_token"'
            : 'Bearer realm="herald"',
        );
      throw error;
    }
    next();
  };
}

/** The caller, as `authenticate` found it. */
export function principalOf(res: Response): Principal {
  return (res.locals.principal as Principal | undefined) ?? ANONYMOUS;
}

/** Throws Forbidden (403) unless the caller's role grants `needed`; `what` names the action. */
export function authorize(principal: Principal, needed: Role, what: string): void {
  if (roleAllows(principal.role, needed)) return;
  throw new HeraldError(
    "Forbidden",
    `${principal.via === "oidc" ? "subject" : "token"} ${principal.name} has the role ${principal.role}; ${what} needs ${needed}`,
  );
}

/** Middleware: the caller's role must grant `needed`. */
export function requireRole(needed: Role, what: string): RequestHandler {
  return (_req: Request, res: Response, next: NextFunction) => {
    authorize(principalOf(res), needed, what);
    next();
  };
}
