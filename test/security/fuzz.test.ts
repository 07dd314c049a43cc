import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { stringify } from "yaml";
import type { HeraldError } from "../../src/errors.js";
import { parseHttpEvents } from "../../src/events/http.js";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";

/**
 * Property-based fuzzing of a real Herald (in process, real HTTP on loopback): random and mutated
 * ingress requests and resource manifests. FUZZ_RUNS sets the number of cases of each property
 * (default 300 for ingress, 200 for the resource API), FUZZ_SEED the seed (fixed by default, so a run
 * is repeatable); a failure prints the seed and the shrunk case. Every request goes to 127.0.0.1, and
 * every URL a generated manifest holds is a loopback one.
 */
const runs = (fallback: number) => (process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : fallback);
const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20_251_125;
const MAX_BATCH_EVENTS = 5;

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** One HTTP/1.1 request written byte for byte on its own connection; resolves with the whole answer. */
function rawRequest(
  url: string,
  method: string,
  path: string,
  headerLines: Buffer[],
  body: Buffer,
): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(
        `${method} ${path} HTTP/1.1\r\nhost: ${hostname}:${port}\r\nconnection: close\r\ncontent-length: ${body.length}\r\n`,
      );
      for (const line of headerLines) socket.write(Buffer.concat([line, Buffer.from("\r\n")]));
      socket.write("\r\n");
      // No half-close: Node's server drops a request whose client ended its side before the answer.
      socket.write(body);
    });
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("end", () => {
      const raw = Buffer.concat(chunks);
      const split = raw.indexOf("\r\n\r\n");
      const head = raw
        .subarray(0, split === -1 ? raw.length : split)
        .toString("latin1")
        .split("\r\n");
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head[0] ?? "")?.[1] ?? 0);
      const headers: Record<string, string> = {};
      for (const line of head.slice(1)) {
        const colon = line.indexOf(":");
        if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status, headers, body: split === -1 ? Buffer.alloc(0) : raw.subarray(split + 4) });
    });
  });
}

/** A 4xx answer is Herald's JSON error body: `{code, message}`. */
function assertJsonError(response: { status: number; contentType: string | undefined; body: string }): void {
  assert.match(response.contentType ?? "", /^application\/json/, `content-type of a ${response.status}`);
  const parsed = JSON.parse(response.body) as { code?: unknown; message?: unknown };
  assert.equal(typeof parsed.code, "string", response.body);
  assert.equal(typeof parsed.message, "string", response.body);
}

// ---------------------------------------------------------------- ingress requests

const latin1 = (text: string) => Buffer.from(text, "latin1");

/** Header value bytes Node's parser takes: tab, printable ASCII and bytes above 0x7F. */
const headerBytes = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: "grapheme-ascii", maxLength: 30 }).map((s) => Buffer.from(s)) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 12 }).map((s) => Buffer.from(s, "utf8")) },
  {
    weight: 2,
    arbitrary: fc
      .array(
        fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }), fc.constant(9)),
        {
          maxLength: 20,
        },
      )
      .map((bytes) => Buffer.from(bytes)),
  },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom("%41", "%ZZ", "%C3%28", "%", "100%", "%E2%82%AC", "a%20b", "%00", "%0D%0A", "\t x \t")
      .map((s) => Buffer.from(s)),
  },
);

const goodTraceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const contentTypes = fc.constantFrom(
  "application/json",
  "text/plain",
  'text/plain; charset="utf-8"',
  "application/octet-stream",
  "text/plain; a=b c",
  "text/plain;",
  "application/xml; charset=utf-8",
  "application/cloudevents+xml",
  "application/cloudevents-batch+xml",
  "multipart/form-data; boundary=x",
  "",
);

/** A header line: a chosen name (sometimes odd or repeated) and a value of raw bytes. */
/** A value most receivers would send: printable ASCII without `%`. */
const plainValue = fc.stringMatching(/^[A-Za-z0-9._:/-]{1,20}$/).map((s) => latin1(s));

const binaryHeaderLine = fc
  .tuple(
    fc.oneof(
      {
        weight: 5,
        arbitrary: fc.constantFrom(
          "subject",
          "dataschema",
          "time",
          "myext",
          "partitionkey",
          "knativebrokerttl",
        ),
      },
      { weight: 1, arbitrary: fc.stringMatching(/^[a-zA-Z0-9_]{0,24}$/) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          "__proto__",
          "constructor",
          "id",
          "type",
          "averyveryverylongextensionname123",
        ),
      },
    ),
    fc.oneof({ weight: 2, arbitrary: plainValue }, { weight: 1, arbitrary: headerBytes }),
  )
  .map(([name, value]) => Buffer.concat([latin1(`ce-${name}: `), value]));

const binaryRequest = fc.record({
  specversion: fc.oneof(
    { weight: 9, arbitrary: fc.constant(latin1("1.0")) },
    { weight: 1, arbitrary: headerBytes },
  ),
  id: fc.oneof({ weight: 3, arbitrary: plainValue }, { weight: 2, arbitrary: headerBytes }),
  source: fc.oneof(
    { weight: 4, arbitrary: fc.constant(latin1("/fuzz")) },
    { weight: 1, arbitrary: headerBytes },
  ),
  type: fc.oneof(
    { weight: 4, arbitrary: fc.constant(latin1("dev.herald.fuzz")) },
    { weight: 1, arbitrary: headerBytes },
  ),
  contentType: fc.option(contentTypes, { nil: undefined }),
  traceparent: fc.option(fc.constantFrom(goodTraceparent, "garbage", goodTraceparent.toUpperCase()), {
    nil: undefined,
  }),
  extra: fc.array(binaryHeaderLine, { maxLength: 4 }),
  body: fc.oneof(
    fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
    fc.constant(Buffer.alloc(0)),
  ),
});

const jsonScalar = fc.oneof(
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.string({ maxLength: 10 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);
const jsonValue = fc.oneof(
  { weight: 4, arbitrary: jsonScalar },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);
const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth);

/** A structured event as JSON text, built by hand so keys such as `__proto__` and duplicates survive. */
const structuredEventText = fc
  .record({
    specversion: fc.oneof(
      { weight: 9, arbitrary: fc.constant<unknown>("1.0") },
      { weight: 1, arbitrary: jsonValue },
    ),
    id: fc.oneof(
      { weight: 4, arbitrary: fc.stringMatching(/^[A-Za-z0-9._-]{1,16}$/) },
      { weight: 4, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 16 }) },
      { weight: 1, arbitrary: jsonValue },
    ),
    source: fc.oneof(
      { weight: 4, arbitrary: fc.constant<unknown>("/fuzz") },
      { weight: 1, arbitrary: jsonValue },
    ),
    type: fc.oneof(
      { weight: 4, arbitrary: fc.constant<unknown>("dev.herald.fuzz") },
      { weight: 1, arbitrary: jsonValue },
    ),
    datacontenttype: fc.option(
      fc.oneof({ weight: 4, arbitrary: contentTypes }, { weight: 1, arbitrary: jsonValue }),
      { nil: undefined, freq: 2 },
    ),
    traceparent: fc.option(fc.constantFrom(goodTraceparent, `${goodTraceparent}\r\nX-Injected: yes`), {
      nil: undefined,
    }),
    extensions: fc.array(
      fc.tuple(
        fc.oneof(
          { weight: 6, arbitrary: fc.stringMatching(/^[a-z0-9]{1,12}$/) },
          { weight: 1, arbitrary: fc.constantFrom("__proto__", "constructor", "Bad-Name", "data") },
        ),
        fc.oneof(
          { weight: 4, arbitrary: fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.boolean()) },
          { weight: 1, arbitrary: jsonValue },
        ),
      ),
      { maxLength: 3 },
    ),
    data: fc.oneof(
      { weight: 3, arbitrary: fc.constant<string | undefined>(undefined) },
      { weight: 5, arbitrary: jsonValue.map((value) => JSON.stringify(value)) },
      { weight: 1, arbitrary: fc.integer({ min: 100, max: 300 }).map(nested) },
      { weight: 1, arbitrary: fc.constant(nested(50_000)) },
    ),
    dataBase64: fc.option(fc.oneof(fc.base64String({ maxLength: 24 }), fc.constant("!!!")), {
      nil: undefined,
      freq: 8,
    }),
  })
  .map((event) => {
    const entries: string[] = [];
    const add = (name: string, value: unknown) => {
      if (value !== undefined) entries.push(`${JSON.stringify(name)}:${JSON.stringify(value)}`);
    };
    add("specversion", event.specversion);
    add("id", event.id);
    add("source", event.source);
    add("type", event.type);
    add("datacontenttype", event.datacontenttype);
    add("traceparent", event.traceparent);
    for (const [name, value] of event.extensions) add(name, value);
    if (event.data !== undefined) entries.push(`"data":${event.data}`);
    add("data_base64", event.dataBase64);
    return `{${entries.join(",")}}`;
  });

type BinaryRequest = typeof binaryRequest extends fc.Arbitrary<infer T> ? T : never;

type IngressCase =
  | { mode: "binary"; target: string; request: BinaryRequest }
  | {
      mode: "structured" | "batch" | "garbage";
      target: string;
      contentType: string | undefined;
      body: Buffer;
    };

const targets = fc.constantFrom(
  "/channels/default/fuzz",
  "/brokers/default/fuzz",
  "/channels/default/fuzz",
  "/brokers/default/fuzz",
  "/channels/default/nowhere",
);
const ingressCase: fc.Arbitrary<IngressCase> = fc.oneof(
  fc.record({ mode: fc.constant("binary" as const), target: targets, request: binaryRequest }),
  fc.record({
    mode: fc.constant("structured" as const),
    target: targets,
    contentType: fc.constantFrom(
      "application/cloudevents+json",
      "application/cloudevents+json; charset=utf-8",
    ),
    body: structuredEventText.map((text) => Buffer.from(text)),
  }),
  fc.record({
    mode: fc.constant("batch" as const),
    target: targets,
    contentType: fc.constant("application/cloudevents-batch+json"),
    body: fc
      .array(structuredEventText, { maxLength: MAX_BATCH_EVENTS + 2 })
      .map((events) => Buffer.from(`[${events.join(",")}]`)),
  }),
  fc.record({
    mode: fc.constant("garbage" as const),
    target: targets,
    contentType: fc.option(
      fc.oneof(
        contentTypes,
        fc.constantFrom("application/cloudevents+json", "application/cloudevents-batch+json"),
      ),
      { nil: undefined },
    ),
    body: fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
      fc.string({ unit: "binary", maxLength: 100 }).map((s) => Buffer.from(s)),
      fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v))),
    ),
  }),
);

/** The request's header lines, and the same headers as Node hands them to Herald (headersDistinct). */
function headersOf(testCase: IngressCase): { lines: Buffer[]; distinct: Record<string, string[]> } {
  const lines: Buffer[] = [];
  if (testCase.mode === "binary") {
    const r = testCase.request;
    lines.push(Buffer.concat([latin1("ce-specversion: "), r.specversion]));
    lines.push(Buffer.concat([latin1("ce-id: "), r.id]));
    lines.push(Buffer.concat([latin1("ce-source: "), r.source]));
    lines.push(Buffer.concat([latin1("ce-type: "), r.type]));
    if (r.contentType !== undefined) lines.push(latin1(`content-type: ${r.contentType}`));
    if (r.traceparent !== undefined) lines.push(latin1(`traceparent: ${r.traceparent}`));
    lines.push(...r.extra);
  } else if (testCase.contentType !== undefined) lines.push(latin1(`content-type: ${testCase.contentType}`));
  const distinct: Record<string, string[]> = {};
  for (const line of lines) {
    const text = line.toString("latin1");
    const colon = text.indexOf(":");
    const name = text.slice(0, colon).toLowerCase();
    // Node trims optional whitespace around a header value.
    (distinct[name] ??= []).push(text.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, ""));
  }
  return { lines, distinct };
}

function bodyOf(testCase: IngressCase): Buffer {
  return testCase.mode === "binary" ? testCase.request.body : testCase.body;
}

/** How a delivered event is recognised: its id and source, as Herald sends them percent-encoded. */
function keyOf(id: unknown, source: unknown): string {
  return `${String(id)}\u0000${String(source)}`;
}

// ---------------------------------------------------------------- resource manifests

const loopbackSink = (receiver: string) => ({ uri: receiver });

function baseManifests(receiver: string): Record<string, unknown>[] {
  return [
    { apiVersion: "messaging.knative.dev/v1", kind: "Channel", metadata: { name: "fz-ch" } },
    {
      apiVersion: "messaging.knative.dev/v1",
      kind: "InMemoryChannel",
      metadata: { name: "fz-imc" },
      spec: { delivery: { retry: 2, backoffDelay: "PT0.1S" } },
    },
    {
      apiVersion: "messaging.knative.dev/v1",
      kind: "Subscription",
      metadata: { name: "fz-sub" },
      spec: {
        channel: { apiVersion: "messaging.knative.dev/v1", kind: "Channel", name: "fz-ch" },
        subscriber: loopbackSink(receiver),
        reply: { ref: { apiVersion: "messaging.knative.dev/v1", kind: "Channel", name: "fz-ch" } },
        delivery: {
          retry: 3,
          backoffPolicy: "linear",
          backoffDelay: "PT0.1S",
          deadLetterSink: loopbackSink(receiver),
        },
      },
    },
    {
      apiVersion: "eventing.knative.dev/v1",
      kind: "Broker",
      metadata: { name: "fz-br" },
      spec: { delivery: { retry: 1 } },
    },
    {
      apiVersion: "eventing.knative.dev/v1",
      kind: "Trigger",
      metadata: { name: "fz-tr" },
      spec: {
        broker: "fz-br",
        filter: { attributes: { type: "x" } },
        filters: [
          { any: [{ prefix: { type: "a" } }, { cesql: "subject LIKE '%a%b%'" }] },
          { not: { exact: { source: "/s" } } },
        ],
        subscriber: loopbackSink(receiver),
      },
    },
    {
      apiVersion: "sources.knative.dev/v1",
      kind: "PingSource",
      metadata: { name: "fz-ping" },
      spec: { schedule: "0 0 1 1 *", data: "{}", sink: loopbackSink(receiver) },
    },
    { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "fz-cm" }, data: { a: "b" } },
    { apiVersion: "v1", kind: "Secret", metadata: { name: "fz-secret" }, data: { token: "aGVsbG8=" } },
  ];
}

const pluralOf: Record<string, string> = {
  Channel: "channels",
  InMemoryChannel: "inmemorychannels",
  Subscription: "subscriptions",
  Broker: "brokers",
  Trigger: "triggers",
  PingSource: "pingsources",
  ConfigMap: "configmaps",
  Secret: "secrets",
};

interface Mutation {
  /** Picks a node at each level (index modulo the number of children). */
  path: number[];
  op: "delete" | "set" | "rename" | "add";
  value: unknown;
  name: string;
}

const mutation: fc.Arbitrary<Mutation> = fc.record({
  path: fc.array(fc.nat(), { maxLength: 5 }),
  op: fc.constantFrom("delete", "set", "rename", "add"),
  value: fc.oneof(
    { weight: 5, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom("", "-", "a".repeat(300), "Not-A-Name", "PT99999999S", "P30D", "x LIKE '%'"),
    },
    {
      weight: 1,
      // Built when the mutation is applied: fast-check could not print so deep a value.
      arbitrary: fc.integer({ min: 20, max: 1_000 }).map((depth) => ({ nestedArrays: depth })),
    },
  ),
  name: fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.constantFrom("__proto__", "constructor", "spec", "metadata", "status"),
  ),
});

function mutate(root: Record<string, unknown>, { path, op, value: generated, name }: Mutation): void {
  let node: Record<string, unknown> | unknown[] = root;
  for (const step of path) {
    const keys = Object.keys(node);
    if (keys.length === 0) break;
    const key = keys[step % keys.length]!;
    const child = (node as Record<string, unknown>)[key];
    if (typeof child !== "object" || child === null) break;
    node = child as Record<string, unknown> | unknown[];
  }
  const keys = Object.keys(node);
  const key = keys.length > 0 ? keys[(path.at(-1) ?? 0) % keys.length]! : name;
  const target = node as Record<string, unknown>;
  const depth = (generated as { nestedArrays?: number } | null)?.nestedArrays;
  const value = depth === undefined ? generated : (JSON.parse(nested(depth)) as unknown);
  if (op === "delete") delete target[key];
  else if (op === "set") target[key] = value;
  else if (op === "rename") {
    Object.defineProperty(target, name, {
      value: target[key],
      enumerable: true,
      writable: true,
      configurable: true,
    });
    if (name !== key) delete target[key];
  } else Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Every http(s) URL a manifest holds points at loopback: fuzzing never sends traffic elsewhere.
 * Herald reads URLs only near the top of a manifest; deeper values are left as they are.
 */
function keepOnLoopback(value: unknown, receiver: string, depth = 0): unknown {
  if (depth > 32) return value;
  if (typeof value === "string") {
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return value;
    try {
      const { hostname } = new URL(value);
      return hostname === "127.0.0.1" ? value : receiver;
    } catch {
      return value;
    }
  }
  if (Array.isArray(value)) return value.map((item) => keepOnLoopback(item, receiver, depth + 1));
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value))
      Object.defineProperty(out, key, {
        value: keepOnLoopback(inner, receiver, depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    return out;
  }
  return value;
}

type ApiCase = {
  base: number;
  mutations: Mutation[];
  send: "apply-yaml" | "apply-two" | "put-json" | "post-json" | "delete" | "garbage";
  garbage: { contentType: string; body: string };
};

const apiCase: fc.Arbitrary<ApiCase> = fc.record({
  base: fc.nat(),
  mutations: fc.array(mutation, { maxLength: 4 }),
  send: fc.constantFrom("apply-yaml", "apply-two", "put-json", "post-json", "delete", "garbage"),
  garbage: fc.record({
    contentType: fc.constantFrom("application/yaml", "application/json", "text/plain", "application/xml", ""),
    body: fc.oneof(
      fc.string({ unit: "binary", maxLength: 200 }),
      fc.constantFrom(
        "a: &a [*a]",
        "{",
        "---\n---\n",
        "kind: [",
        "- - - -",
        "apiVersion: v1\nkind: ConfigMap",
      ),
    ),
  }),
});

// ---------------------------------------------------------------- the properties

describe("fuzzing a real Herald", () => {
  let herald: InProcessHerald;
  let channelReceiver: Receiver;
  let brokerReceiver: Receiver;
  let deadLetters: Receiver;
  let filtered: Receiver;
  let apiReceiver: Receiver;
  const unexpected: unknown[] = [];
  const onUnexpected = (error: unknown) => unexpected.push(error);

  before(async () => {
    process.on("uncaughtException", onUnexpected);
    process.on("unhandledRejection", onUnexpected);
    herald = await InProcessHerald.start({
      config: { logLevel: "fatal" },
      env: { HERALD_MAX_BATCH_EVENTS: String(MAX_BATCH_EVENTS) },
    });
    channelReceiver = await startReceiver();
    brokerReceiver = await startReceiver();
    deadLetters = await startReceiver();
    filtered = await startReceiver();
    apiReceiver = await startReceiver();
    await herald.apply(`
apiVersion: messaging.knative.dev/v1
kind: Channel
metadata: { name: fuzz }
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: fuzz-sub }
spec:
  channel: { apiVersion: messaging.knative.dev/v1, kind: Channel, name: fuzz }
  subscriber: { uri: "${channelReceiver.url}" }
  delivery: { retry: 2, backoffDelay: PT0.1S, deadLetterSink: { uri: "${deadLetters.url}" } }
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: fuzz }
spec:
  delivery: { retry: 2, backoffDelay: PT0.1S, deadLetterSink: { uri: "${deadLetters.url}" } }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: fuzz-all }
spec:
  broker: fuzz
  subscriber: { uri: "${brokerReceiver.url}" }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: fuzz-filtered }
spec:
  broker: fuzz
  filters:
    - any:
        - cesql: "subject LIKE '%a%a%a%b' OR INT(constructor) = 0 OR EXISTS tostring"
        - prefix: { constructor: "f" }
  subscriber: { uri: "${filtered.url}" }
`);
    await eventually(async () => {
      for (const path of [
        "/apis/messaging.knative.dev/v1/namespaces/default/subscriptions/fuzz-sub",
        "/apis/eventing.knative.dev/v1/namespaces/default/triggers/fuzz-all",
        "/apis/eventing.knative.dev/v1/namespaces/default/triggers/fuzz-filtered",
      ]) {
        const { body } = await herald.get<{ status: { conditions?: { type: string; status: string }[] } }>(
          path,
        );
        if (body.status.conditions?.find((c) => c.type === "Ready")?.status !== "True") return false;
      }
      return true;
    });
  });
  after(async () => {
    process.off("uncaughtException", onUnexpected);
    process.off("unhandledRejection", onUnexpected);
    await herald.close();
    await Promise.all(
      [channelReceiver, brokerReceiver, deadLetters, filtered, apiReceiver].map((r) => r.close()),
    );
  });

  it("ingress: never 5xx, JSON errors, and every event answered 202 is delivered or dead-lettered", async () => {
    const expected = { channel: new Map<string, number>(), broker: new Map<string, number>() };
    const statuses = new Map<number, number>();
    let cases = 0;
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(ingressCase, async (testCase) => {
        cases++;
        const { lines, distinct } = headersOf(testCase);
        const body = bodyOf(testCase);
        const response = await rawRequest(herald.url, "POST", testCase.target, lines, body);
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        assert.ok(
          response.status >= 200 && response.status < 500,
          `status ${response.status}: ${response.body.toString()}`,
        );
        if (response.status >= 400) {
          if (process.env.FUZZ_DEBUG) console.log(testCase.mode, response.body.toString().slice(0, 2000));
          assertJsonError({
            status: response.status,
            contentType: response.headers["content-type"],
            body: response.body.toString(),
          });
          return;
        }
        assert.equal(response.status, 202);
        // What Herald accepted, read the way it reads a request: each event must come out again.
        let events;
        try {
          ({ events } = parseHttpEvents(distinct, body, { maxBatchEvents: MAX_BATCH_EVENTS }));
        } catch (error) {
          assert.fail(`202 for a request the parser refuses: ${(error as HeraldError).message}`);
        }
        const counts = testCase.target.startsWith("/channels/") ? expected.channel : expected.broker;
        for (const event of events) {
          const key = keyOf(event.attributes.id, event.attributes.source);
          counts.set(key, (counts.get(key) ?? 0) + 1);
          accepted++;
        }
      }),
      { numRuns: runs(300), seed, endOnFailure: true, includeErrorInReport: true },
    );
    console.log(
      `ingress fuzz: ${cases} cases run (seed ${seed}), answers ${JSON.stringify(Object.fromEntries(statuses))}, ${accepted} events accepted`,
    );

    const delivered = (receivers: Receiver[]) => {
      const counts = new Map<string, number>();
      for (const receiver of receivers)
        for (const request of receiver.requests) {
          const id = decodeURIComponent(String(request.headers["ce-id"]));
          const source = decodeURIComponent(String(request.headers["ce-source"]));
          const key = keyOf(id, source);
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
      return counts;
    };
    const missing = () => {
      const lost: string[] = [];
      // Dead-lettered events of either target reach the same sink.
      const channelSeen = delivered([channelReceiver]);
      const brokerSeen = delivered([brokerReceiver]);
      const deadSeen = delivered([deadLetters]);
      for (const [want, seen] of [
        [expected.channel, channelSeen],
        [expected.broker, brokerSeen],
      ] as const)
        for (const [key, count] of want) {
          const got = (seen.get(key) ?? 0) + (deadSeen.get(key) ?? 0);
          if (got < count) lost.push(`${JSON.stringify(key)}: ${got} of ${count}`);
        }
      return lost;
    };
    await eventually(() => missing().length === 0, {
      timeoutMs: 60_000,
      message: "every accepted event to be delivered or dead-lettered",
    }).catch((error: unknown) => {
      assert.fail(`${(error as Error).message}; missing: ${missing().slice(0, 10).join("; ")}`);
    });
    const health = await fetch(`${herald.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(unexpected, []);
  });

  it("resource API: never 5xx and JSON answers, whatever the manifest", async () => {
    const bases = baseManifests(apiReceiver.url);
    const statuses = new Map<number, number>();
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(apiCase, async ({ base, mutations, send, garbage }) => {
        cases++;
        const original = bases[base % bases.length]!;
        const manifest = structuredClone(original);
        for (const change of mutations) mutate(manifest, change);
        const safe = keepOnLoopback(manifest, apiReceiver.url) as Record<string, unknown>;
        const kind = original.kind as string;
        const [group, version] = (original.apiVersion as string).includes("/")
          ? (original.apiVersion as string).split("/")
          : ["", original.apiVersion as string];
        const collection = group
          ? `/apis/${group}/${version}/namespaces/default/${pluralOf[kind]}`
          : `/api/${version}/namespaces/default/${pluralOf[kind]}`;
        const name = (original.metadata as { name: string }).name;
        let request: { method: string; path: string; contentType?: string; body?: string };
        switch (send) {
          case "apply-yaml":
            request = {
              method: "POST",
              path: "/apply",
              contentType: "application/yaml",
              body: stringify(safe),
            };
            break;
          case "apply-two":
            request = {
              method: "POST",
              path: "/apply",
              contentType: "application/yaml",
              body: `${stringify(safe)}---\n${stringify(bases[(base + 1) % bases.length])}`,
            };
            break;
          case "put-json":
            request = {
              method: "PUT",
              path: `${collection}/${name}`,
              contentType: "application/json",
              body: JSON.stringify(safe),
            };
            break;
          case "post-json":
            request = {
              method: "POST",
              path: collection,
              contentType: "application/json",
              body: JSON.stringify(safe),
            };
            break;
          case "delete":
            request = { method: "DELETE", path: `${collection}/${name}` };
            break;
          case "garbage":
            request = {
              method: "POST",
              path: "/apply",
              contentType: garbage.contentType,
              body: garbage.body,
            };
            break;
        }
        const response = await fetch(`${herald.url}${request.path}`, {
          method: request.method,
          headers: request.contentType ? { "content-type": request.contentType } : {},
          body: request.body,
        });
        const text = await response.text();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        assert.ok(
          response.status < 500,
          `${request.method} ${request.path}: ${response.status} ${text.slice(0, 500)}`,
        );
        if (response.status >= 400)
          assertJsonError({
            status: response.status,
            contentType: response.headers.get("content-type") ?? undefined,
            body: text,
          });
        else JSON.parse(text);
      }),
      { numRuns: runs(200), seed, endOnFailure: true, includeErrorInReport: true },
    );
    console.log(
      `resource API fuzz: ${cases} cases run (seed ${seed}), answers ${JSON.stringify(Object.fromEntries(statuses))}`,
    );
    const health = await fetch(`${herald.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(unexpected, []);
  });
});
