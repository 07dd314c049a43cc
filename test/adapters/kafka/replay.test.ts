// needs: kafka
import { kafkaChannelSpecSchema, type KafkaChannelSpec } from "../../../adapters/kafka/spec.js";
import { describeChannelAdapter } from "../conformance.js";
import { createKafkaAdapter } from "./fixtures.js";

// The conformance suite's replay tests, apart from kafka.test.ts so that each file stays within the
// test runner's time per file: every seek makes the subscription's consumer group join again.
describeChannelAdapter<KafkaChannelSpec>(
  "KafkaChannel",
  {
    create: () => createKafkaAdapter(),
    channelSpec: () => kafkaChannelSpecSchema.parse({ numPartitions: 3 }),
  },
  {
    durable: true,
    sharedAcrossInstances: true,
    orderedScope: "partition",
    replay: { from: ["beginning", "time", "offset"] },
  },
  "replay",
);
