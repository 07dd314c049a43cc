import { createHash, randomBytes } from "node:crypto";
import { chmod, readFile, rename, writeFile } from "node:fs/promises";
import { Document, isMap, isSeq, parseDocument } from "yaml";
import { z } from "zod";
import { problemsFromZod } from "../resources/validation.js";
import { ROLES, type Role } from "./roles.js";

/**
 * The token file: named bearer tokens of the resource API, each with a role, stored as hashes only
 * (YAML, or JSON by the same shape):
 *
 *   tokens:
 *     - name: ci
 *       role: write
 *       hash: sha256:5f0c…
 *
 * A token is `hrld_` and 32 random bytes (base64url), shown once by `herald token create`. With
 * 256 random bits a plain SHA-256 is as strong as a slow password hash would be, and checking it
 * per request costs microseconds.
 */
export const TOKEN_PREFIX = "hrld_";

const tokenNamePattern = /^[A-Za-z0-9][-A-Za-z0-9_.@]*$/;

const tokenEntrySchema = z.strictObject({
  name: z
    .string({ error: "is required" })
    .max(100, "must be at most 100 characters")
    .regex(tokenNamePattern, "must start with a letter or digit and use only letters, digits, -, _, . and @"),
  role: z.enum(ROLES, { error: `must be one of ${ROLES.join(", ")}` }),
  hash: z
    .string({ error: "is required" })
    .regex(
      /^sha256:[0-9a-f]{64}$/,
      'must be "sha256:" and 64 lower-case hex digits (plain tokens are never stored; `herald token create` writes the hash)',
    ),
});
const tokenFileSchema = z.strictObject({ tokens: z.array(tokenEntrySchema).nullish() });

export type TokenEntry = z.output<typeof tokenEntrySchema>;

export class TokenFileError extends Error {
  constructor(
    readonly path: string,
    problems: string[],
  ) {
    super(`token file ${path}: ${problems.join("; ")}`);
    this.name = "TokenFileError";
  }
}

export function generateToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
}

/** The form a token is stored in: `sha256:` and the hex digest of its UTF-8 bytes. */
export function hashToken(token: string): string {
  return `sha256:${createHash("sha256").update(token, "utf8").digest("hex")}`;
}

export function isTokenName(name: string): boolean {
  return tokenNamePattern.test(name) && name.length <= 100;
}

/** Validates a token file's text; throws TokenFileError naming every problem by its path. */
export function parseTokenFile(text: string, path: string): TokenEntry[] {
  const document = parseDocument(text, { uniqueKeys: true });
  if (document.errors.length > 0)
    throw new TokenFileError(path, [`not valid YAML or JSON: ${document.errors[0]!.message}`]);
  let raw: unknown;
  try {
    raw = document.toJS() as unknown;
  } catch (error) {
    throw new TokenFileError(path, [`not valid YAML or JSON: ${(error as Error).message}`]);
  }
  const parsed = tokenFileSchema.safeParse(raw ?? {});
  if (!parsed.success)
    throw new TokenFileError(
      path,
      problemsFromZod(parsed.error).map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)),
    );
  const entries = parsed.data.tokens ?? [];
  const problems: string[] = [];
  const names = new Set<string>();
  const hashes = new Set<string>();
  entries.forEach((entry, index) => {
    if (names.has(entry.name)) problems.push(`tokens[${index}].name: ${entry.name} is named twice`);
    if (hashes.has(entry.hash)) problems.push(`tokens[${index}].hash: the same token is listed twice`);
    names.add(entry.name);
    hashes.add(entry.hash);
  });
  if (problems.length > 0) throw new TokenFileError(path, problems);
  return entries;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new TokenFileError(path, [`cannot be read: ${(error as Error).message}`]);
  }
}

/** Reads and validates a token file; a missing file is an error naming how to create one. */
export async function readTokenFile(path: string): Promise<TokenEntry[]> {
  const text = await readText(path);
  if (text === undefined)
    throw new TokenFileError(path, [
      `does not exist; create it with \`herald token create NAME --role admin --token-file ${path}\``,
    ]);
  return parseTokenFile(text, path);
}

const HEADER =
  " Herald API tokens: names, roles and SHA-256 hashes, never the tokens themselves.\n" +
  " Add one with `herald token create NAME --role read|write|admin --token-file THIS_FILE`.";

/** Writes the file beside itself and renames it over the old one, readable by its owner only. */
async function replaceFile(path: string, text: string): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text, { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, path);
}

/**
 * Adds a token named `name` with `role` to the file (created when missing), keeping the file's
 * format (JSON stays JSON) and its comments, and resolves with the token: the only time it exists
 * outside the caller's hands.
 */
export async function addToken(path: string, name: string, role: Role): Promise<string> {
  if (!isTokenName(name))
    throw new TokenFileError(path, [
      `token name "${name}" must start with a letter or digit and use only letters, digits, -, _, . and @`,
    ]);
  const text = await readText(path);
  const entries = text === undefined ? [] : parseTokenFile(text, path);
  if (entries.some((entry) => entry.name === name))
    throw new TokenFileError(path, [
      `a token named ${name} exists already; delete it first with \`herald token delete ${name}\``,
    ]);
  const token = generateToken();
  const entry: TokenEntry = { name, role, hash: hashToken(token) };
  if (text !== undefined && /^\s*\{/.test(text)) {
    await replaceFile(path, `${JSON.stringify({ tokens: [...entries, entry] }, null, 2)}\n`);
    return token;
  }
  if (text === undefined || text.trim() === "") {
    const created = new Document({ tokens: [entry] });
    created.commentBefore = HEADER;
    await replaceFile(path, created.toString());
    return token;
  }
  const document = parseDocument(text);
  const tokens = document.get("tokens");
  if (isSeq(tokens)) tokens.add(document.createNode(entry));
  else document.set("tokens", [entry]);
  await replaceFile(path, document.toString());
  return token;
}

/** Removes the token named `name`; resolves false when there was none. */
export async function removeToken(path: string, name: string): Promise<boolean> {
  const entries = await readTokenFile(path);
  const index = entries.findIndex((entry) => entry.name === name);
  if (index === -1) return false;
  const text = (await readText(path)) ?? "";
  if (/^\s*\{/.test(text)) {
    await replaceFile(
      path,
      `${JSON.stringify({ tokens: entries.filter((_, at) => at !== index) }, null, 2)}\n`,
    );
    return true;
  }
  const document = parseDocument(text);
  const tokens = document.get("tokens");
  if (isSeq(tokens)) {
    const at = tokens.items.findIndex((item) => isMap(item) && item.get("name") === name);
    tokens.items.splice(at, 1);
  }
  await replaceFile(path, document.toString());
  return true;
}
