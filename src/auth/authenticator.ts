import type { Logger } from "pino";
import { HeraldError } from "../errors.js";
import { OidcError, OidcVerifier, type OidcSettings } from "./oidc.js";
import { ANONYMOUS, type Principal } from "./roles.js";
import { TOKEN_PREFIX } from "./token-file.js";
import { TokenStore } from "./tokens.js";

export interface AuthSettings {
  /** The token file (hashed bearer tokens with their roles). */
  readonly tokenFile?: string | undefined;
  /** OIDC-issued JWTs, when an issuer is configured. */
  readonly oidc?: OidcSettings | undefined;
}

const HOW_TO =
  "send `Authorization: Bearer TOKEN` (the CLI: --token, HERALD_TOKEN or a context in its config file)";

/**
 * Who is calling the resource API. Without a token file and without an OIDC issuer, authentication
 * is off and every caller is the anonymous admin: Herald then serves its API on loopback only
 * (see `apiExposureProblems` in src/config.ts). Otherwise every request needs a bearer token: a
 * Herald token (`hrld_…`, checked against the token file's hashes) or an OIDC-issued JWT.
 */
export class Authenticator {
  private constructor(
    private readonly tokens: TokenStore | undefined,
    private readonly oidc: OidcVerifier | undefined,
  ) {}

  static async create(settings: AuthSettings, logger: Logger): Promise<Authenticator> {
    const tokens = settings.tokenFile ? await TokenStore.open(settings.tokenFile, logger) : undefined;
    const oidc = settings.oidc ? new OidcVerifier(settings.oidc) : undefined;
    return new Authenticator(tokens, oidc);
  }

  get enabled(): boolean {
    return this.tokens !== undefined || this.oidc !== undefined;
  }

  /**
   * The principal of a request's `Authorization` header. Throws `Unauthorized` (401) when it is
   * missing or not valid, `BackendUnavailable` (503) when the OIDC issuer's keys cannot be fetched.
   * The token itself never appears in an error.
   */
  async authenticate(authorization: string | undefined): Promise<Principal> {
    if (!this.enabled) return ANONYMOUS;
    if (!authorization) throw new HeraldError("Unauthorized", `authentication required: ${HOW_TO}`);
    const match = /^Bearer +([^\s]+) *$/i.exec(authorization);
    if (!match)
      throw new HeraldError("Unauthorized", `the Authorization header is not a bearer token: ${HOW_TO}`);
    const token = match[1]!;
    if (token.startsWith(TOKEN_PREFIX)) {
      const principal = this.tokens?.verify(token);
      if (!principal)
        throw new HeraldError("Unauthorized", "the bearer token is not valid (unknown or deleted)");
      return principal;
    }
    if (this.oidc && token.split(".").length === 3) {
      try {
        return await this.oidc.verify(token);
      } catch (error) {
        if (error instanceof OidcError && error.kind === "unavailable")
          throw new HeraldError("BackendUnavailable", `cannot verify the bearer token: ${error.message}`);
        throw new HeraldError("Unauthorized", (error as Error).message);
      }
    }
    throw new HeraldError("Unauthorized", "the bearer token is not valid");
  }

  close(): void {
    this.tokens?.close();
  }
}
