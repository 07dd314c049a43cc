import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";

/**
 * A test OIDC issuer on loopback: its OpenID configuration and JWKS served over HTTP, keys made by
 * jose, rotated on demand; counts JWKS fetches.
 */
export class TestIssuer {
  jwksFetches = 0;
  private keys: { kid: string; privateKey: CryptoKey; jwk: JWK }[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<TestIssuer> {
    const holder: { issuer?: TestIssuer } = {};
    const server = createServer((req, res) => {
      const issuer = holder.issuer!;
      if (req.url === "/.well-known/openid-configuration") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ issuer: issuer.url, jwks_uri: `${issuer.url}/jwks` }));
        return;
      }
      if (req.url === "/jwks") {
        issuer.jwksFetches++;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ keys: issuer.keys.map((key) => key.jwk) }));
        return;
      }
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const issuer = new TestIssuer(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    holder.issuer = issuer;
    await issuer.rotate();
    return issuer;
  }

  /** Replaces the signing key with a new one (new kid); the JWKS then lists only the new key. */
  async rotate(): Promise<void> {
    const { privateKey, publicKey } = await generateKeyPair("RS256");
    const kid = `key-${crypto.randomUUID()}`;
    const jwk = { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" };
    this.keys = [{ kid, privateKey, jwk }];
  }

  /** A token of this issuer; `expiresIn` in seconds (negative for an expired one). */
  async token(claims: { sub: string; aud: string; expiresIn?: number; issuer?: string }): Promise<string> {
    const key = this.keys[0]!;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: "RS256", kid: key.kid })
      .setIssuer(claims.issuer ?? this.url)
      .setSubject(claims.sub)
      .setAudience(claims.aud)
      .setIssuedAt(now - 120)
      .setExpirationTime(now + (claims.expiresIn ?? 300))
      .sign(key.privateKey);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** POSTs one binary-mode event with an optional bearer token; resolves with status and JSON body. */
export async function publish(
  url: string,
  token: string | undefined,
  event: { type?: string; id?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> | undefined; headers: Headers }> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "ce-specversion": "1.0",
      "ce-id": event.id ?? crypto.randomUUID(),
      "ce-type": event.type ?? "dev.herald.test",
      "ce-source": "/test",
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ n: 1 }),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined,
    headers: response.headers,
  };
}
