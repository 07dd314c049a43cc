/** The head of BENCHMARKS.md: how to run the benchmark and how the open-loop case measures. */
export const METHOD = `# Benchmarks

<!-- Rendered by \`npm run bench\` (bench/report.ts) from bench/results.json: edit those, not this file. -->

\`\`\`sh
npm run bench                      # every case; JSON on stdout, bench/results.json and this file updated
npm run bench -- open              # one case: open, core, triggers, kafka, rabbitmq, pubsub, nats, log
BENCH_WRITE=0 BENCH_RUNS=1 BENCH_STEP_SECONDS=1 BENCH_LATENCY_SECONDS=2 BENCH_WARMUP_SECONDS=2 \\
  BENCH_CLOSED_SECONDS=0 BENCH_TARGETS=forwarder,memory npm run bench -- open   # a quick trial, about a minute
BENCH_TARGETS=kafka,kafka-baseline,rabbitmq,rabbitmq-baseline,pubsub,pubsub-baseline,nats,nats-baseline \\
  npm run bench -- open            # the backends in the open loop, each against its raw-client baseline
npm run bench -- kafka rabbitmq    # Herald against Kafka's own tools and RabbitMQ PerfTest (java; Maven fetches them)
BENCH_WORKERS=2 npm run bench -- kafka   # the same with serve --workers 2 (bench/results.json: kafka-workers-2)
npx tsx bench/report.ts            # re-render this file from bench/results.json
\`\`\`

## Method (the open-loop case, \`open\`)

- **Load generator, open model.** A worker thread with an undici Pool (256 connections) sends by the
  clock at a constant arrival rate, whatever the server answers; every event carries its *intended*
  send time in the \`benchintended\` extension (\`ce-benchintended\`). Latency is counted from that
  time, so a stall of the server (or of the generator) is counted in full, with no coordinated
  omission. The generator reports the rate it actually issued at and how late it fell behind; a step
  where it issued less than 97% of the offered rate does not count as sustained. The bare
  \`node:http\` server is its check: the generator reaches the offered rate against it.
- **Subscriber.** A separate \`node:http\` process answering \`202\` records, per event, intended send
  time to arrival into an HDR histogram (\`hdr-histogram-js\`, microseconds, 3 significant digits).
- **Maximum sustainable throughput.** A ladder of offered rates (steps of \`BENCH_STEP_SECONDS\`),
  stopped at the first rate that is not sustained; the figure is the highest sustained rate. A rate is
  sustained when ≥99% of the step's events were delivered by the end of the step (so the backlog is
  bounded), p99 end-to-end latency is under 50 ms, and no request failed or was refused. The ladder
  goes on while the target *keeps up* (the same without the latency limit), and that rate is
  reported too: on a loaded machine, scheduling delays alone can push p99 past 50 ms. The 50% and
  80% points are taken of the sustainable rate, or of the kept-up rate when none was sustained.
- **Latency at fixed rates below saturation**: p50, p99, p99.9 and max at 1k events/s and at 50% and
  80% of that run's maximum, each over \`BENCH_LATENCY_SECONDS\`, with the target's CPU µs per
  delivered event (utime + stime from \`/proc/<pid>/stat\`) and RSS.
- **Cold and warm.** Each run starts the target afresh and measures 1k/s cold (the first load the
  process sees); then \`BENCH_WARMUP_SECONDS\` of the same load before the ladder and the warm points.
- **Closed loop, secondary.** autocannon (50 connections) at saturation, as the older cases: the rate
  of accepted requests and of deliveries (accepted until the last one arrived).
- **Runs** are interleaved (run 1 of every target, then run 2...) and each figure is the median of
  the runs with its range.
- **Fair baselines.** The bare server (ingress only) and a minimal Node forwarder doing Herald's
  delivery work with Herald's strategy and defaults: node:http, a bounded FIFO of 10 000 (503 when
  full), \`202\` after the enqueue, 100 deliveries in flight over an undici Pool of 64 connections.
  Herald runs with its defaults (bounded in-memory capacity, \`herald serve\` through tsx).
- **Kafka** (targets \`kafka\`, \`kafka-baseline\`): Herald's KafkaChannel (1 partition; its idempotent
  acks=all producer with group commit; unordered delivery, 100 in flight per fetched batch) on the
  Kafka at 127.0.0.1:9092, against a kafkajs forwarder in one process with the same strategy
  (\`bench/open-loop/kafka-forwarder.ts\`). Each start uses a new topic and consumer group.
- **RabbitMQ, Pub/Sub, NATS** (targets \`rabbitmq\`, \`pubsub\`, \`nats\`, each with a \`-baseline\`):
  Herald's RabbitmqChannel (a durable quorum queue per Subscription, bound to the channel's fanout
  exchange), PubSubChannel (on Google's emulator at \`PUBSUB_EMULATOR_HOST\`: its figures are relative
  only) and NatsJetStreamChannel, each against one process doing the same work with the backend's own
  client and Herald's strategy and defaults: node:http ingress answering \`202\` once the backend
  acknowledged the event, a consumer delivering over the forwarder's undici Pool and acknowledging
  after the answer (amqplib with confirms and prefetch 10; @google-cloud/pubsub with 5 ms publish
  batching and flow control of 100; @nats-io JetStream with acked publishes and a pull consumer of 100
  in flight), in \`bench/open-loop/*-forwarder.ts\`.
- **The backends' own tools** (closed-loop cases \`kafka\`, \`rabbitmq\`, \`BENCH_RUNS\` rounds): Kafka's
  \`ProducerPerformance\` and \`EndToEndLatency\` (org.apache.kafka:kafka-tools, the broker's version) and
  RabbitMQ PerfTest (com.rabbitmq:perf-test), run with the machine's \`java\` against the same broker,
  with the bench event's size, as the ceiling of Herald's ingress and end to end. Maven fetches their
  jars on first use (\`bench/jvm/*.pom.xml\`).
- **Two versions in one run.** A target \`memory@<dir>\` or \`log@<dir>\` runs Herald from another
  checkout (for instance \`git worktree add /tmp/base <commit>\`), interleaved with this one under the
  same machine load: \`BENCH_TARGETS=forwarder,memory,memory@/tmp/base npm run bench -- open\`.
`;
