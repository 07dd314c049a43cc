import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, errors, jwtVerify, type JWTPayload } from "jose";
import { HeraldError } from "../errors.js";
import type { IdentityIssuer } from "./identity.js";
import { ALGORITHMS, discoverJwksUrl, OidcError } from "./oidc.js";

export interface IngressIssuer {
  /** The issuer (`iss`) whose tokens ingress accepts besides Herald's own. */
  readonly issuer: string;
  /** Its JWKS address, when not discovered through its OpenID configuration. */
  readonly jwksUrl?: string | undefined;
}

type KeySet = ReturnType<typeof createRemoteJWKSet>;

const HOW_TO =
  "send `Authorization: Bearer JWT` with a token issued for the address's status.address.audience";

/**
 * Knative's OIDC sender identity at ingress (pkg/auth/verifier.go): a request must carry a JWT for
 * the addressable's audience, signed by Herald's own key (its deliveries into its own ingress) or by
 * the configured issuer, whose JWKS is fetched on first use, kept 10 minutes and fetched again for an
 * unknown key id (key rotation) at most every 5 s. Answers with the token's subject.
 */
export class IngressVerifier {
  private readonly own: ReturnType<typeof createLocalJWKSet>;
  private remote: Promise<KeySet> | undefined;

  constructor(
    private readonly herald: IdentityIssuer,
    private readonly external: IngressIssuer | undefined,
  ) {
    this.own = createLocalJWKSet(herald.jwks());
  }

  /**
   * The subject (`sub`) of the request's bearer token for `audience`. Throws `Unauthorized` (401)
   * when there is none or it is not valid, `BackendUnavailable` (503) when the issuer's keys
   * cannot be fetched. The token never appears in an error.
   */
  async verify(authorization: string | undefined, audience: string): Promise<string> {
    if (!authorization) throw new HeraldError("Unauthorized", `authentication required: ${HOW_TO}`);
    const match = /^Bearer +([^\s]+) *$/i.exec(authorization);
    if (!match)
      throw new HeraldError("Unauthorized", `the Authorization header is not a bearer token: ${HOW_TO}`);
    const token = match[1]!;
    let claims: JWTPayload;
    try {
      claims = decodeJwt(token);
    } catch {
      throw new HeraldError("Unauthorized", "the bearer token is not a JWT");
    }
    const issuer = claims.iss;
    let keys: KeySet | ReturnType<typeof createLocalJWKSet>;
    if (issuer === this.herald.url) keys = this.own;
    else if (this.external && issuer === this.external.issuer) keys = await this.remoteKeys();
    else
      throw new HeraldError(
        "Unauthorized",
        `the token's issuer ${typeof issuer === "string" ? issuer : "(none)"} is not trusted by ingress`,
      );
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer,
        audience,
        algorithms: ALGORITHMS,
        clockTolerance: 30,
      }));
    } catch (error) {
      const unavailable =
        !(error instanceof errors.JOSEError) ||
        error instanceof errors.JWKSTimeout ||
        error instanceof errors.JWKSInvalid ||
        error.code === errors.JOSEError.code;
      if (unavailable)
        throw new HeraldError(
          "BackendUnavailable",
          `cannot verify the bearer token: the issuer's keys are unavailable: ${(error as Error).message}`,
        );
      throw new HeraldError(
        "Unauthorized",
        `the token is not valid for ${audience}: ${(error as Error).message}`,
      );
    }
    if (typeof payload.sub !== "string" || payload.sub === "")
      throw new HeraldError("Unauthorized", "the token names no subject (sub)");
    return payload.sub;
  }

  private async remoteKeys(): Promise<KeySet> {
    const external = this.external!;
    this.remote ??= discoverJwksUrl(external.issuer, external.jwksUrl).then(
      (url) =>
        createRemoteJWKSet(new URL(url), {
          timeoutDuration: 5_000,
          cooldownDuration: 5_000,
          cacheMaxAge: 600_000,
        }),
      (error: unknown) => {
        this.remote = undefined;
        throw error;
      },
    );
    try {
      return await this.remote;
    } catch (error) {
      throw new HeraldError(
        "BackendUnavailable",
        `cannot verify the bearer token: ${error instanceof OidcError ? error.message : String(error)}`,
      );
    }
  }
}
