import { readFileSync, statSync } from "node:fs";
import { createServer, type RequestListener, type Server, type ServerOptions } from "node:http";
import { createServer as createSecureServer } from "node:https";
import { createSecureContext, rootCertificates, type SecureContextOptions } from "node:tls";
import type { Logger } from "pino";

/** The certificate and key a listener serves, read from files. */
export interface CertificateFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

/** The parts of a listener the certificate is swapped on (an `https.Server`). */
export interface SecureListener {
  setSecureContext(options: SecureContextOptions): void;
}

/** How often the certificate files are checked for a change. */
const RELOAD_CHECK_MS = 1_000;

function signatureOf(path: string): string {
  const stat = statSync(path);
  return `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
}

/**
 * A listener's certificate and key, read at start and read again when either file changes (a
 * certificate renewed by cert-manager, certbot or a mounted Secret), without a restart: each check
 * compares the files' inode, size and modification time, and a changed pair is installed on every
 * listener with `setSecureContext` once it loads as a matching certificate and key. Connections
 * already open keep the certificate they started with; the next handshake gets the new one. A pair
 * that does not load (a file half written, a key that does not match) is logged and the current
 * certificate stays until the files change again.
 */
export class ServerCertificate {
  private pair: { cert: Buffer; key: Buffer };
  private signature: string;
  private refused: string | undefined;
  private readonly listeners: SecureListener[] = [];
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly files: CertificateFiles,
    private readonly logger: Logger,
  ) {
    this.signature = this.currentSignature();
    this.pair = ServerCertificate.read(files);
  }

  /** Reads and checks the pair; throws naming the file that cannot be read or the mismatch. */
  static load(files: CertificateFiles, logger: Logger): ServerCertificate {
    return new ServerCertificate(files, logger);
  }

  private static read(files: CertificateFiles): { cert: Buffer; key: Buffer } {
    const readNamed = (path: string, what: string) => {
      try {
        return readFileSync(path);
      } catch (error) {
        throw new Error(`cannot read the TLS ${what} file ${path}: ${(error as Error).message}`, {
          cause: error,
        });
      }
    };
    const pair = { cert: readNamed(files.certFile, "certificate"), key: readNamed(files.keyFile, "key") };
    try {
      createSecureContext(pair);
    } catch (error) {
      // The message names the problem (no PEM, key mismatch) and never contains the key.
      throw new Error(
        `the TLS certificate ${files.certFile} and key ${files.keyFile} do not load: ${(error as Error).message}`,
        { cause: error },
      );
    }
    return pair;
  }

  private currentSignature(): string {
    return `${signatureOf(this.files.certFile)}|${signatureOf(this.files.keyFile)}`;
  }

  /** The certificate and key to create a listener with. */
  options(): { cert: Buffer; key: Buffer } {
    return this.pair;
  }

  /** Installs reloaded certificates on `listener` from now on; starts checking the files. */
  attach(listener: SecureListener): void {
    this.listeners.push(listener);
    this.timer ??= setInterval(() => this.check(), RELOAD_CHECK_MS).unref();
  }

  /** Reads the files again if they changed; true when a new certificate was installed. */
  check(): boolean {
    let signature: string;
    try {
      signature = this.currentSignature();
    } catch (error) {
      this.refuse(
        "missing",
        `a TLS file is missing; the current certificate stays: ${(error as Error).message}`,
      );
      return false;
    }
    if (signature === this.signature) return false;
    try {
      this.pair = ServerCertificate.read(this.files);
    } catch (error) {
      this.refuse(signature, `${(error as Error).message}; the current certificate stays`);
      return false;
    }
    this.signature = signature;
    this.refused = undefined;
    for (const listener of this.listeners) listener.setSecureContext(this.pair);
    this.logger.info({ certFile: this.files.certFile }, "TLS certificate reloaded");
    return true;
  }

  /** Logs a refused pair once, not at every check. */
  private refuse(signature: string, message: string): void {
    if (this.refused === signature) return;
    this.refused = signature;
    this.logger.warn(message);
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

/**
 * A listener: HTTPS with `certificate` (which then swaps its certificate when the files change), else
 * plain HTTP.
 */
export function createListener(
  certificate: ServerCertificate | undefined,
  options: ServerOptions,
  listener: RequestListener,
): Server {
  if (!certificate) return createServer(options, listener);
  const server = createSecureServer({ ...options, ...certificate.options() }, listener);
  certificate.attach(server);
  return server;
}

/** How Herald connects to https destinations: extra trusted CAs and an optional client certificate. */
export interface ClientTls {
  /** PEM certificates trusted besides the system's (HERALD_TLS_CA_FILE). */
  readonly ca?: string | undefined;
  /** A client certificate and key presented to destinations that ask for one (mutual TLS). */
  readonly cert?: Buffer | undefined;
  readonly key?: Buffer | undefined;
}

/** Reads the client-side TLS files; throws naming a file that cannot be read or does not load. */
export function loadClientTls(files: {
  caFile?: string | undefined;
  clientCertFile?: string | undefined;
  clientKeyFile?: string | undefined;
}): ClientTls {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new Error(`cannot read the TLS ${what} file ${path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  };
  const ca = files.caFile ? read(files.caFile, "CA").toString("utf8") : undefined;
  const cert = files.clientCertFile ? read(files.clientCertFile, "client certificate") : undefined;
  const key = files.clientKeyFile ? read(files.clientKeyFile, "client key") : undefined;
  try {
    createSecureContext({ ca: trustedCertificates(ca), cert, key });
  } catch (error) {
    throw new Error(`the TLS CA or client certificate files do not load: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return { ca, cert, key };
}

/**
 * The CAs a connection trusts: the system's plus the extra ones. Node's `ca` option replaces the
 * system list, so it is repeated here; a destination's CACerts add to it as Knative's do.
 */
export function trustedCertificates(...extra: Array<string | undefined>): string[] {
  return [...rootCertificates, ...extra.filter((pem): pem is string => pem !== undefined && pem !== "")];
}
