import type { Redis, RedisOptions } from "ioredis";
import { z } from "zod";
import type { CloudEvent } from "../../src/events/event.js";
import { secretKeySelectorSchema, type SourceContext, type SourceFactory } from "../source.js";
import { Reconnector } from "../support.js";

/**
 * sources.knative.dev/v1alpha1 RedisStreamSource (eventing-redis). Reads the Redis stream `stream`
 * at `address` in the consumer group `group` (created at the stream's end, with the stream, when it
 * does not exist; without `group`, a group of the source's own, deleted with the source), with
 * `consumers` consumers (default 1; each delivers one entry at a time). An entry is acknowledged
 * (XACK) only after the sink accepted its event, or refused it for good; entries a consumer had
 * read and not acknowledged before a restart are delivered again first.
 *
 * Each entry becomes eventing-redis's event: type `dev.knative.sources.redisstream`, source
 * `{address}/{stream}` (without credentials in the address), id the entry id, and the entry's fields and values as a JSON array
 * (`["field", "value", ...]`). `dialOptions` takes `useTLS`, `skipVerify` and the client
 * certificate, key and CA from Secrets.
 */
const secretValueSchema = secretKeySelectorSchema.partial();
const specSchema = z.object({
  address: z
    .string({ error: "is required" })
    .regex(/^(rediss?:\/\/)?[^\s/]+(:\d+)?\/?$/, "must be host:port or a redis:// URL"),
  stream: z.string({ error: "is required" }).min(1, "is required"),
  group: z.string().min(1, "must not be empty").optional(),
  consumers: z.number().int().min(1, "must be >= 1").max(100, "must be <= 100").default(1),
  dialOptions: z
    .object({
      useTLS: z.boolean().default(false),
      skipVerify: z.boolean().default(false),
      cert: secretValueSchema.optional(),
      key: secretValueSchema.optional(),
      caCert: secretValueSchema.optional(),
    })
    .optional(),
});
type Spec = z.output<typeof specSchema>;

export const REDIS_STREAM_EVENT_TYPE = "dev.knative.sources.redisstream";
/** How long one XREADGROUP waits for entries before looking again (so that stop is prompt). */
const BLOCK_MS = 1_000;

/** `{address}/{stream}`, without the address's credentials (they would reach every event and status). */
function sourceOf(spec: Spec): string {
  return `${spec.address.replace(/\/\/[^@/]*@/, "//").replace(/\/$/, "")}/${spec.stream}`;
}

/** ioredis options for the spec, reading the Secrets `dialOptions` references. */
function clientOptions(spec: Spec, context: SourceContext): { url: string; options: RedisOptions } {
  const url = /^rediss?:\/\//.test(spec.address) ? spec.address : `redis://${spec.address}`;
  const options: RedisOptions = {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null, // the worker reconnects itself, with backoff
    connectionName: `herald-redisstreamsource-${context.resource.name}`,
  };
  const dial = spec.dialOptions;
  if (dial?.useTLS || url.startsWith("rediss://")) {
    const read = (field: string, value: z.output<typeof secretValueSchema> | undefined) => {
      if (!value?.secretKeyRef) return undefined;
      try {
        return context.secret(value.secretKeyRef);
      } catch (error) {
        throw new Error(`spec.dialOptions.${field}: ${(error as Error).message}`, { cause: error });
      }
    };
    options.tls = {
      rejectUnauthorized: !dial?.skipVerify,
      ca: read("caCert", dial?.caCert),
      cert: read("cert", dial?.cert),
      key: read("key", dial?.key),
    };
  }
  return { url, options };
}

/** XREADGROUP's reply: [[stream, [[id, [field, value, ...]], ...]]], or null when nothing came. */
type ReadReply = [string, [string, string[]][]][] | null;

export function entryToEvent(spec: Spec, id: string, fields: readonly string[]): CloudEvent {
  return {
    attributes: {
      specversion: "1.0",
      id,
      type: REDIS_STREAM_EVENT_TYPE,
      source: sourceOf(spec),
      datacontenttype: "application/json",
    },
    data: Buffer.from(JSON.stringify(fields)),
  };
}

export const redisStreamSource: SourceFactory<typeof specSchema> = {
  group: "sources.knative.dev",
  versions: ["v1alpha1"],
  kind: "RedisStreamSource",
  plural: "redisstreamsources",
  shortNames: ["redisstreamsource"],
  specSchema,
  ceAttributes: (spec) => [{ type: REDIS_STREAM_EVENT_TYPE, source: sourceOf(spec) }],
  async start(spec, context) {
    // Loaded when a source starts: the CLI and a Herald without this kind never load the client.
    const { Redis } = await import("ioredis");
    const { url, options } = clientOptions(spec, context);
    const group = spec.group ?? `herald-redisstreamsource-${context.resource.uid}`;
    const clients = new Set<Redis>();
    const loops: Promise<void>[] = [];

    const consume = async (client: Redis, consumer: string) => {
      // "0" reads this consumer's entries read before and not acknowledged; ">" the new ones.
      let from = "0";
      while (!reconnector.stopped) {
        const reply = (await client.xreadgroup(
          "GROUP",
          group,
          consumer,
          "COUNT",
          1,
          "BLOCK",
          BLOCK_MS,
          "STREAMS",
          spec.stream,
          from,
        )) as ReadReply;
        const entries = reply?.[0]?.[1] ?? [];
        if (entries.length === 0) {
          from = ">";
          continue;
        }
        for (const [id, fields] of entries) {
          if (reconnector.stopped) return;
          // Resolves once the sink accepted (or refused for good): only then is the entry acknowledged.
          await context.send(entryToEvent(spec, id, fields ?? []));
          await client.xack(spec.stream, group, id);
        }
      }
    };

    const reconnector = new Reconnector(async () => {
      if (reconnector.stopped) return;
      const opened: Redis[] = [];
      try {
        for (let n = 0; n < spec.consumers; n++) {
          const client = new Redis(url, options);
          client.on("error", () => undefined);
          clients.add(client);
          opened.push(client);
          await client.connect();
        }
        await opened[0]!.xgroup("CREATE", spec.stream, group, "$", "MKSTREAM").catch((error: Error) => {
          if (!error.message.includes("BUSYGROUP")) throw error;
        });
        reconnector.succeeded();
        context.setCondition("Connected", "True");
        const running = opened.map((client, n) =>
          consume(client, `${group}-${n}`).catch((error: unknown) => {
            if (reconnector.stopped) return;
            throw error;
          }),
        );
        loops.push(...running);
        await Promise.all(running);
      } catch (error) {
        if (reconnector.stopped) return;
        context.setCondition("Connected", "False", "ConnectionFailed", (error as Error).message);
        for (const client of opened) {
          clients.delete(client);
          client.disconnect();
        }
        reconnector.retry();
      }
    });

    context.setCondition("Connected", "Unknown", "Connecting");
    reconnector.start();
    return {
      async stop(reason) {
        reconnector.stop();
        for (const client of clients) client.disconnect();
        await Promise.allSettled(loops);
        clients.clear();
        if (reason === "deleted" && !spec.group) {
          // The group was the source's own: it goes with the source, as in eventing-redis.
          const client = new Redis(url, options);
          client.on("error", () => undefined);
          try {
            await client.connect();
            await client.xgroup("DESTROY", spec.stream, group);
          } catch (error) {
            context.logger.warn(
              { err: (error as Error).message, group },
              "could not delete the consumer group",
            );
          } finally {
            client.disconnect();
          }
        }
      },
    };
  },
};
