import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  SignJWT,
  type CryptoKey,
  type JWK,
} from "jose";

/**
 * The audience of an addressable, as Knative names it (pkg/auth/audience.go GetAudience):
 * `<group>/<kind>/<namespace>/<name>`, lowercase.
 */
export function audienceOf(group: string, kind: string, namespace: string, name: string): string {
  return `${group}/${kind}/${namespace}/${name}`.toLowerCase();
}

/**
 * The OIDC subject Herald sends as on behalf of a Trigger, Subscription or source: the service
 * account Knative gives the resource (pkg/auth/serviceaccount.go
 * GetOIDCServiceAccountNameForResource: `<name>-oidc-<group>-<kind>`, lowercase) as Kubernetes names
 * it in tokens, `system:serviceaccount:<namespace>:<service account>`.
 */
export function subjectOf(group: string, kind: string, namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${serviceAccountNameOf(group, kind, name)}`;
}

/** The service account name of subjectOf, as Knative shows it in `status.auth.serviceAccountName`. */
export function serviceAccountNameOf(group: string, kind: string, name: string): string {
  return `${name}-oidc-${group}-${kind}`.toLowerCase();
}

/** Who a delivery is sent as, and for whom: Herald signs a token with these for it. */
export interface DeliveryIdentity {
  readonly subject: string;
  readonly audience: string;
}

/** Where Herald publishes its OpenID configuration and keys, on the ingress listener. */
export const OPENID_CONFIGURATION_PATH = "/.well-known/openid-configuration";
export const JWKS_PATH = "/.well-known/jwks.json";

/** How long a token Herald signs is valid; it is reused until a minute before it expires. */
const TOKEN_LIFETIME_S = 300;
const REUSE_MARGIN_S = 60;
const ALGORITHM = "ES256";
const KEY_FILE = "oidc-signing-key.json";

/**
 * Herald's own issuer: an ES256 key generated at first start and kept in the data directory (0600),
 * reused across restarts, signing a short-lived JWT for each delivery whose destination has an
 * audience. Tokens are cached per subject and audience, so a delivery signs nothing on the hot path
 * but once every few minutes.
 */
export class IdentityIssuer {
  private readonly cache = new Map<string, { token: Promise<string>; renewAt: number }>();

  private constructor(
    private readonly privateKey: CryptoKey,
    private readonly publicJwk: JWK,
    private readonly issuer: () => string,
  ) {}

  /** Loads the signing key from `dataDir`, generating and storing one on first start. */
  static async open(dataDir: string, issuer: () => string): Promise<IdentityIssuer> {
    const file = join(dataDir, KEY_FILE);
    let privateJwk: JWK;
    try {
      privateJwk = JSON.parse(await readFile(file, "utf8")) as JWK;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT")
        throw new Error(`the signing key ${file} cannot be read: ${(error as Error).message}`, {
          cause: error,
        });
      const { privateKey } = await generateKeyPair(ALGORITHM, { extractable: true });
      privateJwk = await exportJWK(privateKey);
      await mkdir(dataDir, { recursive: true, mode: 0o700 });
      const temporary = `${file}.${process.pid}.tmp`;
      await writeFile(temporary, JSON.stringify(privateJwk), { mode: 0o600 });
      await rename(temporary, file);
    }
    await chmod(file, 0o600);
    const privateKey = (await importJWK(privateJwk, ALGORITHM)) as CryptoKey;
    const { kty, crv, x, y } = privateJwk;
    const publicJwk: JWK = { kty, crv, x, y };
    publicJwk.kid = await calculateJwkThumbprint(publicJwk);
    publicJwk.alg = ALGORITHM;
    publicJwk.use = "sig";
    return new IdentityIssuer(privateKey, publicJwk, issuer);
  }

  /** The issuer (`iss`): Herald's public base URL. */
  get url(): string {
    return this.issuer();
  }

  /** The public key set, as served at JWKS_PATH. */
  jwks(): { keys: JWK[] } {
    return { keys: [{ ...this.publicJwk }] };
  }

  /** The public key, to verify Herald's own tokens without a network round trip. */
  get publicKey(): JWK {
    return { ...this.publicJwk };
  }

  /** OpenID Connect Discovery 1.0 section 3, the fields a verifier of Herald's tokens needs. */
  openidConfiguration(): Record<string, unknown> {
    const issuer = this.issuer();
    return {
      issuer,
      jwks_uri: `${issuer}${JWKS_PATH}`,
      response_types_supported: ["id_token"],
      subject_types_supported: ["public"],
      id_token_signing_alg_values_supported: [ALGORITHM],
    };
  }

  /** A JWT for `identity`, valid TOKEN_LIFETIME_S, reused while it has more than a minute left. */
  token(identity: DeliveryIdentity): Promise<string> {
    const key = `${identity.subject}\n${identity.audience}`;
    const now = Math.floor(Date.now() / 1000);
    const cached = this.cache.get(key);
    if (cached && cached.renewAt > now) return cached.token;
    const token = new SignJWT({})
      .setProtectedHeader({ alg: ALGORITHM, kid: this.publicJwk.kid!, typ: "JWT" })
      .setIssuer(this.issuer())
      .setSubject(identity.subject)
      .setAudience(identity.audience)
      .setIssuedAt(now)
      .setExpirationTime(now + TOKEN_LIFETIME_S)
      .sign(this.privateKey);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(key, { token, renewAt: now + TOKEN_LIFETIME_S - REUSE_MARGIN_S });
    token.catch(() => this.cache.delete(key));
    return token;
  }
}
