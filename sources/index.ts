/**
 * Every source kind Herald ships. Adding one is a folder beside this file and one line here; the
 * kernel registers each kind with the fields the runtime handles for all of them (`spec.sink`,
 * `spec.ceOverrides`) added to the kind's own spec.
 */
import { apiServerSource } from "./apiserver/index.js";
import { containerSource } from "./container/index.js";
import { githubSource } from "./github/index.js";
import { gitlabSource } from "./gitlab/index.js";
import { integrationSource } from "./integration/index.js";
import { kafkaSource } from "./kafka/index.js";
import { mqttSource } from "./mqtt/index.js";
import { pingSource } from "./ping/index.js";
import { processSource } from "./process/index.js";
import { cloudPubSubSource } from "./pubsub/index.js";
import { rabbitmqSource } from "./rabbitmq/index.js";
import { redisStreamSource } from "./redis/index.js";
import { sinkBinding } from "./sinkbinding/index.js";
import { defineSource, type SourceFactory } from "./source.js";

export const sourcePlugins: readonly SourceFactory[] = [
  defineSource(pingSource),
  defineSource(kafkaSource),
  defineSource(rabbitmqSource),
  defineSource(cloudPubSubSource),
  defineSource(githubSource),
  defineSource(mqttSource),
  defineSource(processSource),
  defineSource(apiServerSource),
  defineSource(gitlabSource),
  defineSource(redisStreamSource),
  defineSource(containerSource),
  defineSource(sinkBinding),
  defineSource(integrationSource),
];
