/**
 * Every channel backend Herald ships. Adding one is a folder beside this file (see adapter.ts and
 * memory/ as the example) and one line here.
 */
import type { ChannelPlugin } from "./adapter.js";
import { kafkaChannelPlugin } from "./kafka/index.js";
import { logChannelPlugin } from "./log/index.js";
import { memoryChannelPlugin } from "./memory/index.js";
import { natsChannelPlugin } from "./nats/index.js";
import { pubsubChannelPlugin } from "./pubsub/index.js";
import { rabbitmqChannelPlugin } from "./rabbitmq/index.js";

export const channelPlugins: readonly ChannelPlugin[] = [
  memoryChannelPlugin,
  kafkaChannelPlugin,
  rabbitmqChannelPlugin,
  pubsubChannelPlugin,
  natsChannelPlugin,
  logChannelPlugin,
];
