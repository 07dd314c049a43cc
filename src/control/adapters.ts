import type { Logger } from "pino";
import type { ChannelAdapter, ChannelPlugin } from "../../adapters/adapter.js";
import { sliceOf, type HeraldConfig } from "../config.js";
import type { Metrics } from "../metrics.js";

/**
 * The channel adapters of one Herald, created on first use from their plug-ins, so a Herald with no
 * Kafka channel never connects to Kafka. Each adapter receives only its own configuration slice.
 */
export class AdapterRegistry {
  private readonly created = new Map<string, ChannelAdapter>();
  /** Channels whose events went unconsumed already: logged at info once, then at debug. */
  private readonly unconsumedChannels = new Set<string>();

  constructor(
    private readonly plugins: readonly ChannelPlugin[],
    private readonly config: HeraldConfig,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {}

  get(kind: string): ChannelAdapter | undefined {
    let adapter = this.created.get(kind);
    if (adapter) return adapter;
    const plugin = this.plugins.find((p) => p.kind.kind === kind);
    if (!plugin) return undefined;
    adapter = plugin.create({
      config: plugin.config ? sliceOf(this.config, plugin.config) : undefined,
      logger: this.logger.child({ adapter: kind }),
      dataDir: this.config.dataDir,
      onUnconsumed: (channel, events) => this.countUnconsumed(kind, channel, events),
    });
    this.created.set(kind, adapter);
    return adapter;
  }

  private countUnconsumed(kind: string, channel: { namespace: string; name: string }, events: number): void {
    this.metrics.unconsumed.inc({ namespace: channel.namespace, name: channel.name }, events);
    const key = `${kind}/${channel.namespace}/${channel.name}`;
    const first = !this.unconsumedChannels.has(key);
    this.unconsumedChannels.add(key);
    this.logger[first ? "info" : "debug"](
      { channel: key, events },
      "events accepted by a channel with no subscription: no one will receive them",
    );
  }

  /** The adapters created so far. */
  values(): IterableIterator<ChannelAdapter> {
    return this.created.values();
  }

  /** Each created adapter's readiness (and why not, when it says), for `/readyz` and status. */
  async readiness(): Promise<{ kind: string; ready: boolean; message?: string | undefined }[]> {
    return Promise.all(
      [...this.created.values()].map(async (adapter) => {
        const ready = await adapter.isReady().catch(() => false);
        return ready
          ? { kind: adapter.kind, ready }
          : { kind: adapter.kind, ready, message: adapter.readinessMessage?.() };
      }),
    );
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.created.values()].map((adapter) =>
        adapter
          .close()
          .catch((error: unknown) =>
            this.logger.warn({ err: error, adapter: adapter.kind }, "closing an adapter failed"),
          ),
      ),
    );
  }
}
