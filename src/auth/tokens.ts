import { unwatchFile, watchFile, type Stats } from "node:fs";
import type { Logger } from "pino";
import type { Principal } from "./roles.js";
import { hashToken, readTokenFile, TokenFileError, type TokenEntry } from "./token-file.js";

/**
 * The bearer tokens of one Herald, from its token file. The file is read at start (an invalid or
 * missing file stops the start) and again within about a second of every change, so
 * `herald token create` and `herald token delete` take effect without a restart. A change that
 * makes the file invalid is logged and the tokens read before stay in force.
 */
export class TokenStore {
  private byHash = new Map<string, TokenEntry>();
  private readonly onChange = (current: Stats, previous: Stats) => {
    if (
      current.mtimeMs !== previous.mtimeMs ||
      current.ino !== previous.ino ||
      current.size !== previous.size
    )
      void this.reload();
  };

  private constructor(
    readonly path: string,
    private readonly logger: Logger,
  ) {}

  static async open(path: string, logger: Logger, watchIntervalMs = 1_000): Promise<TokenStore> {
    const store = new TokenStore(path, logger);
    store.use(await readTokenFile(path));
    watchFile(path, { interval: watchIntervalMs, persistent: false }, store.onChange);
    return store;
  }

  get size(): number {
    return this.byHash.size;
  }

  /** The principal a presented token stands for, or undefined when no stored hash matches. */
  verify(token: string): Principal | undefined {
    const entry = this.byHash.get(hashToken(token));
    return entry && { name: entry.name, role: entry.role, via: "token" };
  }

  close(): void {
    unwatchFile(this.path, this.onChange);
  }

  private use(entries: readonly TokenEntry[]): void {
    this.byHash = new Map(entries.map((entry) => [entry.hash, entry]));
  }

  private async reload(): Promise<void> {
    try {
      this.use(await readTokenFile(this.path));
      this.logger.info({ tokenFile: this.path, tokens: this.byHash.size }, "token file reloaded");
    } catch (error) {
      const message = error instanceof TokenFileError ? error.message : String(error);
      this.logger.error(
        { tokenFile: this.path },
        `token file not reloaded, the previous tokens stay in force: ${message}`,
      );
    }
  }
}
