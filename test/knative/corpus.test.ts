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

/**
 * Every Knative Eventing document published in Knative's repositories (`shared/knative-manifests/`
 * beside this repository, listed by its `index.json`), applied file by file, unchanged, to one
 * Herald whose only configuration is the rule that maps Services to URLs (here a local receiver).
 * Each indexed document ends in one outcome: `ready` (applied and Ready=True), `not-ready` (applied,
 * with the Ready reason), `refused` (the file was refused, with the problems of that document) or
 * `left-aside` (a kind Herald does not run, with Herald's note). The summary goes to stdout and
 * every document's outcome to a JSON file; the test fails when a document listed in
 * `corpus-baseline.json` (index ids, no manifest content) is no longer `ready`.
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

type Outcome = "ready" | "not-ready" | "refused" | "left-aside";

interface DocumentResult {
  id: number;
  file: string;
  kind: string;
  name: string | null;
  outcome: Outcome;
  reason?: string;
}

interface ApplyAnswer {
  items?: Resource[];
  leftAside?: { document: string; apiVersion?: string; kind?: string; name?: string; reason: string }[];
  message?: string;
  details?: { problems?: { path: string; message: string }[] };
}

const repositoryRoot = resolve(import.meta.dirname, "../..");
const corpus = resolve(repositoryRoot, "../shared/knative-manifests");
const baselineFile = join(import.meta.dirname, "corpus-baseline.json");
/** How long one file's resources may take to settle (sources connect to their brokers). */
const SETTLE_DEADLINE_MS = 6_000;
/** Statuses unchanged this long, with none still Unknown, are taken as settled. */
const QUIET_MS = 1_000;

const readyOf = (resource: Resource | undefined) =>
  resource?.status.conditions?.find((condition) => condition.type === "Ready");

describe("Knative manifests, unchanged", () => {
  let herald: InProcessHerald;
  let receiver: Receiver;

  before(async () => {
    receiver = await startReceiver();
    herald = await InProcessHerald.start({
      config: { serviceUrlTemplate: `${receiver.url}{namespace}/{name}` },
      env: { PUBSUB_EMULATOR_HOST: process.env.PUBSUB_EMULATOR_HOST ?? "127.0.0.1:8085" },
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

  it("applies every indexed document and keeps the baseline Ready", async () => {
    assert.ok(
      existsSync(join(corpus, "index.json")),
      `no Knative manifests at ${corpus}: put shared/knative-manifests/ (with its index.json) beside this repository`,
    );
    const index = JSON.parse(readFileSync(join(corpus, "index.json"), "utf8")) as IndexEntry[];
    const byFile = new Map<string, IndexEntry[]>();
    for (const entry of index) byFile.set(entry.file, [...(byFile.get(entry.file) ?? []), entry]);

    const results: DocumentResult[] = [];
    for (const [file, entries] of byFile) {
      const text = readFileSync(join(corpus, file), "utf8");
      const response = await fetch(`${herald.url}/apply`, {
        method: "POST",
        headers: { "content-type": "application/yaml" },
        body: text,
      });
      const answer = (await response.json()) as ApplyAnswer;
      const record = (entry: IndexEntry, outcome: Outcome, reason?: string) =>
        results.push({ id: entry.id, file, kind: entry.kind, name: entry.name, outcome, reason });
      if (response.status !== 200) {
        const problems = answer.details?.problems ?? [];
        const parsed = parseAllDocuments(text);
        const documents = Array.isArray(parsed) && parsed.length > 1;
        for (const entry of entries) {
          const own = problems.filter(
            (p) => !documents || p.path.startsWith(`request body[${entry.doc_index}]`),
          );
          const reason = own.length
            ? own.map((p) => `${p.path}: ${p.message}`).join("; ")
            : `another document of the file was refused: ${answer.message ?? response.status}`;
          record(entry, "refused", reason);
        }
        continue;
      }
      const items = answer.items ?? [];
      await settle(items);
      for (const entry of entries) {
        const note = answer.leftAside?.find((n) => n.kind === entry.kind && (n.name ?? null) === entry.name);
        const item = items.find((i) => i.kind === entry.kind && i.metadata.name === entry.name);
        if (note) record(entry, "left-aside", note.reason);
        else if (!item) record(entry, "refused", "applied, but Herald returned no resource for it");
        else {
          const ready = readyOf(stored(item));
          if (ready?.status === "True" || (stored(item) && !stored(item)!.status.conditions))
            record(entry, "ready");
          else
            record(
              entry,
              "not-ready",
              `${ready?.reason ?? "no Ready condition"}${ready?.message ? `: ${ready.message}` : ""}`,
            );
        }
      }
      for (const item of [...items].reverse()) {
        const definition = herald.herald.resources.kinds.find(item.apiVersion, item.kind);
        if (definition && stored(item))
          await herald.herald.resources.delete(definition, item.metadata.namespace, item.metadata.name);
      }
    }

    const report = join(tmpdir(), "herald-knative-corpus.json");
    writeFileSync(report, `${JSON.stringify(results, null, 1)}\n`);
    const outcomes: Outcome[] = ["ready", "not-ready", "refused", "left-aside"];
    const count = (list: DocumentResult[], outcome: Outcome) =>
      list.filter((r) => r.outcome === outcome).length;
    const lines = [
      `Knative corpus: ${results.length} documents in ${byFile.size} files`,
      ...outcomes.map((o) => `  ${o.padEnd(12)} ${count(results, o)}`),
      `  ${"kind".padEnd(22)} ${outcomes.map((o) => o.padStart(12)).join("")}`,
      ...[...new Set(results.map((r) => r.kind))].sort().map((kind) => {
        const ofKind = results.filter((r) => r.kind === kind);
        return `  ${kind.padEnd(22)} ${outcomes.map((o) => String(count(ofKind, o)).padStart(12)).join("")}`;
      }),
      `every document's outcome: ${report}`,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);

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
