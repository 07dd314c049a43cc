import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from "jose";
import { isSecureEnough } from "./hosts.js";
import { isRole, roleAllows, type Principal, type Role } from "./roles.js";

export interface OidcSettings {
  /** The issuer (`iss`); its keys are found through `{issuer}/.well-known/openid-configuration`. */
  readonly issuer: string;
  /** The audiences a token must name in `aud` (one is enough). */
  readonly audience: readonly string[];
  /** The JWKS address, when it should not be discovered. */
  readonly jwksUrl?: string | undefined;
  /** The claim holding the caller's role(s): a name or dotted path (`realm_access.roles`). */
  readonly roleClaim: string;
  /** Claim values → roles (`herald-admins` → admin); when empty, claim values must be role names. */
  readonly roleMap: Readonly<Record<string, Role>>;
}

/** Only asymmetric signatures: a shared-secret (HS*) token could be minted by anyone holding the JWKS. */
export const ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
];

/** Why a JWT was not accepted: `invalid` (401) or the issuer's keys could not be fetched (503). */
export class OidcError extends Error {
  constructor(
    readonly kind: "invalid" | "unavailable",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "OidcError";
  }
}

function claimAt(payload: JWTPayload, path: string): unknown {
  let value: unknown = payload;
  for (const key of path.split(".")) {
    if (!value || typeof value !== "object" || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** The highest role the token's role claim grants, or undefined. */
export function roleOfClaims(
  payload: JWTPayload,
  settings: Pick<OidcSettings, "roleClaim" | "roleMap">,
): Role | undefined {
  const claim = claimAt(payload, settings.roleClaim);
  const values = typeof claim === "string" ? [claim] : Array.isArray(claim) ? claim : [];
  const mapped = Object.keys(settings.roleMap).length > 0;
  let best: Role | undefined;
  for (const value of values) {
    if (typeof value !== "string") continue;
    const role = mapped
      ? Object.hasOwn(settings.roleMap, value)
        ? settings.roleMap[value]
        : undefined
      : value;
    if (isRole(role) && (!best || roleAllows(role, best))) best = role;
  }
  return best;
}

/**
 * Verifies OIDC-issued JWTs: signature against the issuer's JWKS (fetched on first use, cached,
 * fetched again when a token names an unknown key), `iss`, `aud`, `exp` and `nbf`, then maps the
 * role claim to a role.
 */
export class OidcVerifier {
  private keys: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;

  constructor(private readonly settings: OidcSettings) {}

  async verify(token: string): Promise<Principal> {
    const keys = await this.keySet();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: this.settings.issuer,
        audience: [...this.settings.audience],
        algorithms: ALGORITHMS,
        clockTolerance: 30,
      }));
    } catch (error) {
      throw this.classify(error);
    }
    const name = typeof payload.sub === "string" ? payload.sub : "unknown subject";
    const role = roleOfClaims(payload, this.settings);
    if (!role)
      throw new OidcError(
        "invalid",
        `the token of ${name} grants no Herald role in its ${this.settings.roleClaim} claim`,
      );
    return { name, role, via: "oidc" };
  }

  private classify(error: unknown): OidcError {
    if (error instanceof OidcError) return error;
    const unavailable =
      !(error instanceof errors.JOSEError) ||
      error instanceof errors.JWKSTimeout ||
      error instanceof errors.JWKSInvalid ||
      error.code === errors.JOSEError.code;
    return unavailable
      ? new OidcError("unavailable", `the OIDC issuer's keys are unavailable: ${(error as Error).message}`, {
          cause: error,
        })
      : new OidcError("invalid", `the token is not valid: ${(error as Error).message}`, { cause: error });
  }

  /** The JWKS, discovered once; a failed discovery is tried again on the next request. */
  private keySet(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    this.keys ??= this.discover().then(
      (url) =>
        createRemoteJWKSet(new URL(url), {
          timeoutDuration: 5_000,
          cooldownDuration: 30_000,
          cacheMaxAge: 600_000,
        }),
      (error: unknown) => {
        this.keys = undefined;
        throw error;
      },
    );
    return this.keys;
  }

  private discover(): Promise<string> {
    return discoverJwksUrl(this.settings.issuer, this.settings.jwksUrl);
  }
}

/**
 * The JWKS address of an issuer: `jwksUrl` when given, else `jwks_uri` of its OpenID configuration
 * (`{issuer}/.well-known/openid-configuration`), which must name the same issuer and an https JWKS.
 */
export async function discoverJwksUrl(issuer: string, jwksUrl?: string): Promise<string> {
  if (jwksUrl) return jwksUrl;
  const address = `${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
  let document: { issuer?: unknown; jwks_uri?: unknown };
  try {
    const response = await fetch(address, { signal: AbortSignal.timeout(5_000), redirect: "error" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    document = (await response.json()) as typeof document;
  } catch (error) {
    throw new OidcError("unavailable", `OIDC discovery at ${address} failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
  // OpenID Connect Discovery 1.0, section 4.3: the document's issuer must be the one asked for.
  if (document.issuer !== issuer)
    throw new OidcError("unavailable", `OIDC discovery at ${address} names another issuer`);
  if (
    typeof document.jwks_uri !== "string" ||
    !URL.canParse(document.jwks_uri) ||
    !isSecureEnough(document.jwks_uri)
  )
    throw new OidcError("unavailable", `OIDC discovery at ${address} gives no https jwks_uri`);
  return document.jwks_uri;
}
