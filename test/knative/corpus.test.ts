// needs: kafka, rabbitmq, pubsub, nats
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { isDeepStrictEqual } from "node:util";
import { parseAllDocuments } from "yaml";
import type { Resource } from "../../src/resources/common.js";
import { InProcessHerald } from "../support/herald.js";
import { startReceiver, type Receiver } from "../support/receiver.js";
import { corpusSummary, type DocumentResult, type Outcome } from "./corpus-report.js";
import { corpusUnits, type CorpusUnit } from "./corpus-units.js";
import { knativeRefusal } from "./knative-accepts.js";

/**
 * Every Knative Eventing document published in Knative's repositories (`shared/knative-manifests/`
 * beside this repository, listed by its `index.json`), applied unchanged as users apply it, to one
 * Herald configured with the rule that maps Services to URLs (here a local receiver) and, as this
 * machine's Kafka, the alias of the docs' Kafka address (HERALD_KAFKA_BOOTSTRAP_ALIASES).
 * The corpus is applied unit by unit (corpus-units.ts): a documentation page's blocks one after
 * another, a sample folder's files as `kubectl apply -R -f` does; each file goes to /apply, which
 * takes a file all or nothing, and when a file of several documents is refused its documents are
 * applied one by one, as kubectl applies each object, so a refused document refuses only itself.
 * Once the unit has settled, each indexed document ends in one outcome: `ready` (applied and
 * Ready=True), `not-ready` (applied, with the Ready reason), `refused` (with the problems of that
 * document) or `left-aside` (a kind Herald does not run, with Herald's note); then the unit is
 * deleted. Documents that current Knative refuses too (knative-accepts.ts) are counted apart.
 * The summary goes to stdout and every document's outcome to a JSON file; the test fails when a
 * document listed in `corpus-baseline.json` (index ids, no manifest content) is no longer `ready`.
 * Set HERALD_CORPUS_UPDATE_BASELINE=1 to rewrite the baseline with today's ready documents.
 */
interface IndexEntry {
  id: number;
  file: string;
  doc_index: number;
  apiVersion: string;
  kind: string;
  name: string | null;
}

interface ApplyAnswer {
  items?: Resource[];
  leftAside?: { document: string; apiVersion?: string; kind?: string; name?: string; reason: string }[];
  message?: string;
  details?: { problems?: { path: string; message: string }[] };
}

/** A document applied, left aside or refused, waiting for its unit to settle. */
interface Applied {
  entry: IndexEntry;
  item?: Resource;
  leftAside?: string;
  refused?: string;
}

/** A document of the corpus that defines an object: a prerequisite another page may need. */
interface Definition {
  file: string;
  text: string;
}

const repositoryRoot = resolve(import.meta.dirname, "../..");
const corpus = resolve(repositoryRoot, "../shared/knative-manifests");
const baselineFile = join(import.meta.dirname, "corpus-baseline.json");
/** How long one unit's resources may take to settle (sources connect to their brokers). */
const SETTLE_DEADLINE_MS = 6_000;
/** Statuses unchanged this long, with none still Unknown, are taken as settled. */
const QUIET_MS = 1_000;

/** A YAML block of a documentation page, as `_derived/blocks.json` lists every block of the corpus's pages. */
interface PageBlock {
  repo: string;
  path: string;
  block: number | null;
  text: string;
  kinds: [string | null, string | null, string | null][];
}

/**
 * The blocks of the corpus's pages that the index leaves out because they are no Eventing documents
 * but a page applies them all the same: the ConfigMaps and Secrets a reader creates on the way (a
 * Broker's `spec.config`), under the file name the block would have in the corpus. They are applied
 * with their page, in block order, and not measured.
 */
function pageBlocksBeside(indexed: readonly string[]): Map<string, string> {
  const file = join(corpus, "_derived", "blocks.json");
  if (!existsSync(file)) return new Map();
  const pages = new Set(indexed.map((name) => /^(.*\.md)\.block\d+\.yaml$/.exec(name)?.[1]).filter(Boolean));
  const blocks = JSON.parse(readFileSync(file, "utf8")) as PageBlock[];
  const beside = new Map<string, string>();
  for (const block of blocks) {
    const name = `${block.repo}/${block.path}.block${block.block}.yaml`;
    const page = `${block.repo}/${block.path}`;
    const configOnly =
      block.kinds.length > 0 &&
      block.kinds.every(
        ([apiVersion, kind]) => apiVersion === "v1" && /^(ConfigMap|Secret)$/.test(kind ?? ""),
      );
    if (block.block !== null && configOnly && pages.has(page) && !indexed.includes(name))
      beside.set(name, block.text);
  }
  return beside;
}

/** The text of a corpus file, or of a page block beside the index. */
let pageBlocks = new Map<string, string>();
const textOf = (file: string) => pageBlocks.get(file) ?? readFileSync(join(corpus, file), "utf8");

/** The documents of a corpus file, as plain values (empty documents included, as the index counts them). */
function documentsOf(file: string): unknown[] {
  const parsed = parseAllDocuments(textOf(file));
  return (Array.isArray(parsed) ? parsed : [parsed]).map((document) => document.toJS() as unknown);
}

/** Kind, namespace and name: what makes a second apply replace an object. */
function keyOf(document: unknown): string {
  const { kind, metadata } = (document ?? {}) as {
    kind?: string;
    metadata?: { name?: string; namespace?: string };
  };
  return `${kind} ${metadata?.namespace ?? "default"}/${metadata?.name}`;
}

/** Every object the corpus's files define (indexed or not), by key, in corpus order. */
function definitionsOf(files: readonly string[]): Map<string, Definition[]> {
  const definitions = new Map<string, Definition[]>();
  for (const file of new Set(files)) {
    const parsed = parseAllDocuments(textOf(file));
    for (const document of Array.isArray(parsed) ? parsed : [parsed]) {
      const value = document.toJS() as unknown;
      if (!value || typeof value !== "object") continue;
      const key = keyOf(value);
      definitions.set(key, [...(definitions.get(key) ?? []), { file, text: String(document) }]);
    }
  }
  return definitions;
}

/** A reason naming an object that does not exist: its kind, then namespace/name. */
const MISSING = /\b([A-Z]\w+) ([\w.-]+\/[\w.-]+)(?: in [\w.]+)? (?:not found|does not exist)/;

const readyOf = (resource: Resource | undefined) =>
  resource?.status.conditions?.find((condition) => condition.type === "Ready");

describe("Knative manifests, unchanged", () => {
  let herald: InProcessHerald;
  let receiver: Receiver;

  before(async () => {
    receiver = await startReceiver();
    herald = await InProcessHerald.start({
      // JobSinks and ContainerSources run their commands as processes: the operator allows it.
      config: { serviceUrlTemplate: `${receiver.url}{namespace}/{name}`, allowProcessSources: true },
      env: {
        PUBSUB_EMULATOR_HOST: process.env.PUBSUB_EMULATOR_HOST ?? "127.0.0.1:8085",
        // The Kafka address Knative's docs write is this machine's Kafka (Herald's default, 127.0.0.1:9092).
        HERALD_KAFKA_BOOTSTRAP_ALIASES: "my-cluster-kafka-bootstrap.kafka:9092=127.0.0.1:9092",
      },
    });
  });
  after(async () => {
    await herald?.close();
    await receiver?.close();
  });

  const stored = (item: Resource): Resource | undefined => {
    const { kinds, store } = herald.herald.resources;
    const definition = kinds.find(item.apiVersion, item.kind);
    return definition && store.get(definition, item.metadata.namespace, item.metadata.name);
  };

  /** Waits until every applied resource is Ready, or their statuses stopped changing, or the deadline. */
  const settle = async (items: readonly Resource[]) => {
    const deadline = Date.now() + SETTLE_DEADLINE_MS;
    let last: unknown;
    let quietSince = Date.now();
    while (Date.now() < deadline) {
      const conditions = items.map((item) => readyOf(stored(item)));
      // Kinds without conditions (ConfigMap, Secret, Namespace) count as settled.
      const withConditions = items.filter((item) => stored(item)?.status.conditions !== undefined);
      if (conditions.every((c, i) => c?.status === "True" || !withConditions.includes(items[i]!))) return;
      const snapshot = conditions.map((c) => [c?.status, c?.reason]);
      if (!isDeepStrictEqual(snapshot, last)) {
        last = snapshot;
        quietSince = Date.now();
      } else if (
        Date.now() - quietSince >= QUIET_MS &&
        conditions.every((c) => c !== undefined && c.status !== "Unknown")
      )
        return;
      await new Promise((resolveWait) => setTimeout(resolveWait, 100));
    }
  };

  const postApply = async (text: string) => {
    const response = await fetch(`${herald.url}/apply`, {
      method: "POST",
      headers: { "content-type": "application/yaml" },
      body: text,
    });
    return { status: response.status, answer: (await response.json()) as ApplyAnswer };
  };
  const problemsOf = (answer: ApplyAnswer, documentIndex?: number) =>
    (answer.details?.problems ?? [])
      .filter((p) => documentIndex === undefined || p.path.startsWith(`request body[${documentIndex}]`))
      .map((p) => `${p.path}: ${p.message}`)
      .join("; ") || `refused: ${answer.message ?? "no message"}`;
  const outcomeOf = (entry: IndexEntry, answer: ApplyAnswer): Applied => {
    const note = answer.leftAside?.find((n) => n.kind === entry.kind && (n.name ?? null) === entry.name);
    const item = answer.items?.find((i) => i.kind === entry.kind && i.metadata.name === entry.name);
    if (note) return { entry, leftAside: note.reason };
    if (!item) return { entry, refused: "applied, but Herald returned no resource for it" };
    return { entry, item };
  };

  /** Applies one file; a refused file of several documents is applied document by document. */
  const applyFile = async (text: string, entries: IndexEntry[], created: Resource[]): Promise<Applied[]> => {
    const post = async (body: string) => {
      const answer = await postApply(body);
      if (answer.status === 200) created.push(...(answer.answer.items ?? []));
      return answer;
    };
    const whole = await post(text);
    if (whole.status === 200) return entries.map((entry) => outcomeOf(entry, whole.answer));
    const parsed = parseAllDocuments(text);
    const documents = Array.isArray(parsed) ? parsed : [parsed];
    if (documents.length < 2) return entries.map((entry) => ({ entry, refused: problemsOf(whole.answer) }));
    const answers = new Map<number, { status: number; answer: ApplyAnswer }>();
    for (const [i, document] of documents.entries())
      if (document.contents !== null) answers.set(i, await post(String(document)));
    return entries.map((entry) => {
      const own = answers.get(entry.doc_index);
      if (!own) return { entry, refused: problemsOf(whole.answer, entry.doc_index) };
      return own.status === 200 ? outcomeOf(entry, own.answer) : { entry, refused: problemsOf(own.answer) };
    });
  };

  /**
   * Applies a prerequisite from another page: the first document of the corpus defining the object
   * that becomes Ready on its own (a reader follows the page that creates it). Returns its file.
   */
  const applyPrerequisite = async (
    key: string,
    definitions: Map<string, Definition[]>,
    items: Resource[],
  ): Promise<string | undefined> => {
    for (const definition of definitions.get(key) ?? []) {
      const answer = await postApply(definition.text);
      if (answer.status !== 200) continue;
      const created = answer.answer.items ?? [];
      await settle(created);
      if (
        created.every((item) => !stored(item)?.status.conditions || readyOf(stored(item))?.status === "True")
      ) {
        items.push(...created);
        return definition.file;
      }
      await deleteAll(created);
    }
    return undefined;
  };

  /**
   * For each applied document not Ready because an object its page does not define is missing,
   * applies that object from the page of the corpus that defines it (once per unit), then settles.
   */
  const applyPrerequisites = async (
    unit: CorpusUnit,
    applied: readonly Applied[],
    items: Resource[],
    definitions: Map<string, Definition[]>,
    taken: Map<string, string | undefined>,
  ) => {
    const defined = new Set(unit.files.flatMap((file) => documentsOf(file).map(keyOf)));
    // The objects the documents miss that their unit does not define.
    const missingOf = applied.map((entry) => {
      const ready = entry.item && readyOf(stored(entry.item));
      if (!ready || ready.status === "True") return undefined;
      const missing = MISSING.exec(`${ready.reason ?? ""}: ${ready.message ?? ""}`);
      return missing ? `${missing[1]} ${missing[2]}` : undefined;
    });
    let added = false;
    for (const key of new Set(missingOf)) {
      if (!key || defined.has(key) || taken.has(key)) continue;
      taken.set(key, await applyPrerequisite(key, definitions, items));
      added ||= taken.get(key) !== undefined;
    }
    if (added) await settle(items);
  };

  const deleteAll = async (items: readonly Resource[]) => {
    for (const item of [...items].reverse()) {
      const definition = herald.herald.resources.kinds.find(item.apiVersion, item.kind);
      if (definition && stored(item))
        await herald.herald.resources.delete(definition, item.metadata.namespace, item.metadata.name);
    }
  };

  it("applies every indexed document as users do and keeps the baseline Ready", async () => {
    assert.ok(
      existsSync(join(corpus, "index.json")),
      `no Knative manifests at ${corpus}: put shared/knative-manifests/ (with its index.json) beside this repository`,
    );
    const index = JSON.parse(readFileSync(join(corpus, "index.json"), "utf8")) as IndexEntry[];
    pageBlocks = pageBlocksBeside(index.map((entry) => entry.file));
    const files = [...index.map((entry) => entry.file), ...pageBlocks.keys()];
    const units = corpusUnits(files);
    const definitions = definitionsOf(files);

    const results: DocumentResult[] = [];
    const measure = (
      unit: CorpusUnit,
      applied: readonly Applied[],
      taken: Map<string, string | undefined>,
    ) => {
      // The prerequisites applied for the unit so far: every document measured now ran beside them.
      const prerequisite =
        [...taken]
          .filter(([, file]) => file)
          .map(([key, file]) => `${key} from ${file}`)
          .join("; ") || undefined;
      const defined = new Set(unit.files.flatMap((file) => documentsOf(file).map(keyOf)));
      for (const { entry, item, leftAside, refused } of applied) {
        const record = (outcome: Outcome, reason?: string) => {
          const missing = MISSING.exec(reason ?? "");
          results.push({
            id: entry.id,
            file: entry.file,
            unit: unit.name,
            kind: entry.kind,
            name: entry.name,
            outcome,
            reason,
            knativeRefuses: knativeRefusal(documentsOf(entry.file)[entry.doc_index]),
            outsideUnit: missing && !defined.has(`${missing[1]} ${missing[2]}`) ? missing[0] : undefined,
            prerequisite,
          });
        };
        const current = item && stored(item);
        const ready = readyOf(current);
        if (leftAside) record("left-aside", leftAside);
        else if (refused || !item) record("refused", refused);
        else if (ready?.status === "True" || (current && !current.status.conditions)) record("ready");
        else
          record(
            "not-ready",
            current
              ? `${ready?.reason ?? "no Ready condition"}${ready?.message ? `: ${ready.message}` : ""}`
              : "deleted by a later document of its unit",
          );
      }
    };
    for (const unit of units) {
      let pending: Applied[] = [];
      // Every resource a file created, indexed or not (ConfigMaps, Secrets), is deleted after the unit.
      const items: Resource[] = [];
      const taken = new Map<string, string | undefined>();
      for (const file of unit.files) {
        // A later block that applies an object again (a page's Broker, extended) is measured on its
        // own: the earlier document's outcome is taken before it is replaced.
        const replaced = new Set(documentsOf(file).map(keyOf));
        const earlier = pending.filter((a) => a.item && replaced.has(keyOf(a.item)));
        if (earlier.length) {
          await settle(items);
          await applyPrerequisites(unit, earlier, items, definitions, taken);
          measure(unit, earlier, taken);
          pending = pending.filter((a) => !earlier.includes(a));
        }
        const entries = index.filter((entry) => entry.file === file);
        pending.push(...(await applyFile(textOf(file), entries, items)));
      }
      await settle(items);
      await applyPrerequisites(unit, pending, items, definitions, taken);
      measure(unit, pending, taken);
      await deleteAll(items);
    }
    results.sort((x, y) => x.id - y.id);

    const report = join(tmpdir(), "herald-knative-corpus.json");
    writeFileSync(report, `${JSON.stringify(results, null, 1)}\n`);
    process.stdout.write(`${corpusSummary(results, units.length, report)}\n`);

    const ready = results.filter((r) => r.outcome === "ready").map((r) => r.id);
    if (process.env.HERALD_CORPUS_UPDATE_BASELINE === "1") {
      writeFileSync(baselineFile, `${JSON.stringify({ ready: ready.sort((a, b) => a - b) }, null, 1)}\n`);
      return;
    }
    const baseline = JSON.parse(readFileSync(baselineFile, "utf8")) as { ready: number[] };
    const regressed = results.filter((r) => baseline.ready.includes(r.id) && r.outcome !== "ready");
    const gained = ready.filter((id) => !baseline.ready.includes(id));
    if (gained.length)
      process.stdout.write(
        `Ready now and not in the baseline (HERALD_CORPUS_UPDATE_BASELINE=1 adds them): ${gained.join(", ")}\n`,
      );
    assert.deepEqual(
      regressed.map((r) => `${r.id} ${r.kind} ${r.name} (${r.file}): ${r.outcome} ${r.reason ?? ""}`),
      [],
      "documents of the baseline that are no longer Ready",
    );
  });
});
