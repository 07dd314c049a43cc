import type { AdapterContext, AdapterFactory, ChannelAdapter } from "./adapter.js";
import { kafkaChannelAdapter } from "./kafka/index.js";
import { memoryChannelAdapter } from "./memory/index.js";
import { pubsubChannelAdapter } from "./pubsub/index.js";
import { rabbitmqChannelAdapter } from "./rabbitmq/index.js";

/** Every channel backend Herald ships, by the backing channel kind it serves. Adding one is one line. */
export const adapterFactories: readonly AdapterFactory[] = [
  memoryChannelAdapter,
  kafkaChannelAdapter,
  rabbitmqChannelAdapter,
  pubsubChannelAdapter,
];

/**
 * Creates each adapter on first use, so a Herald with no Kafka channel never connects to Kafka.
 */
export class AdapterRegistry {
  private readonly created = new Map<string, ChannelAdapter>();

  constructor(
    private readonly context: AdapterContext,
    private readonly factories: readonly AdapterFactory[] = adapterFactories,
  ) {}

  get(kind: string): ChannelAdapter | undefined {
    let adapter = this.created.get(kind);
    if (adapter) return adapter;
    const factory = this.factories.find((f) => f.kind === kind);
    if (!factory) return undefined;
    adapter = factory.create({ ...this.context, logger: this.context.logger.child({ adapter: kind }) });
    this.created.set(kind, adapter);
    return adapter;
  }

  /** The adapters created so far. */
  values(): IterableIterator<ChannelAdapter> {
    return this.created.values();
  }
}
