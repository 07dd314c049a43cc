import { dirname, posix } from "node:path";

/**
 * The corpus grouped as users apply it. Two kinds of unit:
 *
 * - A documentation page: its YAML blocks (`<page>.md.blockN.yaml`) in block order, as a reader
 *   follows the page, creating in block 2 the Broker that block 5's Trigger uses.
 * - A sample folder: its other YAML files, applied as `kubectl apply -R -f <folder>` does, in
 *   the order of a directory walk (names compared byte by byte, a subfolder walked where its name
 *   falls). The sample folder of a file is its own folder, or the folder above when that one holds
 *   sample files itself: eventing-rabbitmq's `samples/quick-setup/` has its RabbitmqCluster at the
 *   top and its Broker and source in `broker-files/` and `source-files/`, while
 *   `eventing-kafka-broker/test/config/sacura/resources/` is a sample alone (nothing beside it in
 *   `sacura/`). A page and the YAML files next to it are separate units: the page's blocks are
 *   what the reader copies.
 */
export interface CorpusUnit {
  /** The page (`…/README.md`) or the sample folder (`…/quick-setup/`). */
  name: string;
  /** Corpus-relative paths, in the order they are applied. */
  files: string[];
}

const BLOCK = /^(.*\.md)\.block(\d+)\.yaml$/;

const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Compares two paths as a directory walk meets them: segment by segment. */
function walkOrder(a: string, b: string): number {
  const left = a.split("/");
  const right = b.split("/");
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const order = byteOrder(left[i]!, right[i]!);
    if (order !== 0) return order;
  }
  return left.length - right.length;
}

export function corpusUnits(files: readonly string[]): CorpusUnit[] {
  const samples = files.filter((file) => !BLOCK.test(file));
  const sampleFolders = new Set(samples.map((file) => dirname(file)));
  const sampleFolderOf = (file: string) => {
    let folder = dirname(file);
    while (sampleFolders.has(dirname(folder)) && dirname(folder) !== folder) folder = dirname(folder);
    return `${folder}/`;
  };
  const units = new Map<string, { file: string; order: number | string }[]>();
  const add = (unit: string, file: string, order: number | string) =>
    units.set(unit, [...(units.get(unit) ?? []), { file, order }]);
  for (const file of new Set(files)) {
    const block = BLOCK.exec(file);
    if (block) add(block[1]!, file, Number(block[2]));
    else add(sampleFolderOf(file), file, posix.relative(sampleFolderOf(file), file));
  }
  return [...units]
    .sort(([a], [b]) => byteOrder(a, b))
    .map(([name, members]) => ({
      name,
      files: members
        .sort((a, b) =>
          typeof a.order === "number" && typeof b.order === "number"
            ? a.order - b.order
            : walkOrder(String(a.order), String(b.order)),
        )
        .map((member) => member.file),
    }));
}
