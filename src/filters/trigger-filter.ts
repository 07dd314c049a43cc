import type { CloudEvent } from "../events/event.js";
import { CesqlParseError, parseCesql } from "./cesql/index.js";

/** One entry of a Trigger's `spec.filters` (Knative's SubscriptionsAPIFilter), dialects nestable. */
export interface SubscriptionsAPIFilter {
  exact?: Record<string, string>;
  prefix?: Record<string, string>;
  suffix?: Record<string, string>;
  all?: SubscriptionsAPIFilter[];
  any?: SubscriptionsAPIFilter[];
  not?: SubscriptionsAPIFilter;
  cesql?: string;
}

export interface TriggerFilterSpec {
  filter?: { attributes?: Record<string, string> } | undefined;
  filters?: Record<string, unknown>[] | undefined;
}

export type EventPredicate = (event: CloudEvent) => boolean;

const DIALECTS = ["exact", "prefix", "suffix", "all", "any", "not", "cesql"] as const;
const ATTRIBUTE_NAME = /^[a-z0-9]+$/;
const matchAll: EventPredicate = () => true;

/** An attribute of the event itself, never one inherited from Object.prototype (`constructor`...). */
function attribute(event: CloudEvent, name: string): string | undefined {
  if (!Object.hasOwn(event.attributes, name)) return undefined;
  const value = event.attributes[name];
  return value === undefined ? undefined : String(value);
}

function compileMap(
  entries: Record<string, string>,
  test: (value: string, wanted: string) => boolean,
): EventPredicate {
  const pairs = Object.entries(entries);
  return (event) =>
    pairs.every(([name, wanted]) => {
      const value = attribute(event, name);
      return value !== undefined && test(value, wanted);
    });
}

/** Compiles one dialect object (already validated) into a predicate. */
function compileDialect(filter: SubscriptionsAPIFilter): EventPredicate {
  if (filter.exact) return compileMap(filter.exact, (value, wanted) => value === wanted);
  if (filter.prefix) return compileMap(filter.prefix, (value, wanted) => value.startsWith(wanted));
  if (filter.suffix) return compileMap(filter.suffix, (value, wanted) => value.endsWith(wanted));
  if (filter.all) {
    const all = filter.all.map(compileDialect);
    return (event) => all.every((predicate) => predicate(event));
  }
  if (filter.any) {
    const any = filter.any.map(compileDialect);
    // Knative: an empty `any` filters nothing out.
    return any.length === 0 ? matchAll : (event) => any.some((predicate) => predicate(event));
  }
  if (filter.not) {
    const inner = compileDialect(filter.not);
    return (event) => !inner(event);
  }
  if (filter.cesql !== undefined) {
    const expression = parseCesql(filter.cesql);
    // Knative's CESQL filter: an evaluation error means no match; otherwise the result as a Boolean.
    // An exception is an evaluation error too: it fails this filter, never the publish that runs it.
    return (event) => {
      try {
        const { value, errors } = expression.evaluate(event);
        return (
          errors.length === 0 &&
          (value === true || (typeof value === "string" && value.toLowerCase() === "true"))
        );
      } catch {
        return false;
      }
    };
  }
  return matchAll;
}

/**
 * Compiles a Trigger's filter once. Knative semantics: a non-empty `filters` list is used and
 * `filter` ignored; every entry of `filters` must match; `filter.attributes` matches attributes
 * exactly, an empty value matching any value.
 */
export function compileTriggerFilter(spec: TriggerFilterSpec): EventPredicate {
  if (spec.filters && spec.filters.length > 0) {
    const predicates = (spec.filters as SubscriptionsAPIFilter[]).map(compileDialect);
    return predicates.length === 1
      ? predicates[0]!
      : (event) => predicates.every((predicate) => predicate(event));
  }
  const attributes = Object.entries(spec.filter?.attributes ?? {}).filter(([, value]) => value !== "");
  if (attributes.length === 0) return matchAll;
  return (event) => attributes.every(([name, wanted]) => attribute(event, name) === wanted);
}

export interface FilterProblem {
  path: string;
  message: string;
}

function validateMap(value: unknown, path: string, problems: FilterProblem[]): void {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    problems.push({ path, message: "must be a map of attribute names to strings" });
    return;
  }
  const entries = Object.entries(value);
  if (entries.length === 0) problems.push({ path, message: "must name at least one attribute" });
  for (const [name, wanted] of entries) {
    if (!ATTRIBUTE_NAME.test(name))
      problems.push({ path: `${path}.${name}`, message: "attribute names are lowercase letters and digits" });
    if (typeof wanted !== "string") problems.push({ path: `${path}.${name}`, message: "must be a string" });
  }
}

function validateDialect(filter: unknown, path: string, problems: FilterProblem[]): void {
  if (typeof filter !== "object" || filter === null || Array.isArray(filter)) {
    problems.push({ path, message: `must be an object with one of ${DIALECTS.join(", ")}` });
    return;
  }
  const keys = Object.keys(filter);
  const dialects = keys.filter((key) => (DIALECTS as readonly string[]).includes(key));
  const unknown = keys.filter((key) => !(DIALECTS as readonly string[]).includes(key));
  for (const key of unknown)
    problems.push({
      path: `${path}.${key}`,
      message: `unknown filter dialect (use one of ${DIALECTS.join(", ")})`,
    });
  if (dialects.length !== 1) {
    if (unknown.length === 0)
      problems.push({
        path,
        message: `must set exactly one of ${DIALECTS.join(", ")}, found ${dialects.length}`,
      });
    return;
  }
  const dialect = dialects[0]!;
  const value = (filter as Record<string, unknown>)[dialect];
  const at = `${path}.${dialect}`;
  switch (dialect) {
    case "exact":
    case "prefix":
    case "suffix":
      validateMap(value, at, problems);
      return;
    case "all":
    case "any":
      if (!Array.isArray(value)) problems.push({ path: at, message: "must be a list of filters" });
      else value.forEach((inner, index) => validateDialect(inner, `${at}[${index}]`, problems));
      return;
    case "not":
      validateDialect(value, at, problems);
      return;
    case "cesql":
      if (typeof value !== "string" || value.trim() === "") {
        problems.push({ path: at, message: "must be a CESQL expression" });
        return;
      }
      try {
        parseCesql(value);
      } catch (error) {
        if (!(error instanceof CesqlParseError)) throw error;
        problems.push({ path: at, message: error.message });
      }
  }
}

/** Checks a Trigger's filter at apply time; paths are relative to the resource (`spec.filters[0]...`). */
export function validateTriggerFilter(spec: TriggerFilterSpec): FilterProblem[] {
  const problems: FilterProblem[] = [];
  for (const name of Object.keys(spec.filter?.attributes ?? {})) {
    if (!ATTRIBUTE_NAME.test(name))
      problems.push({
        path: `spec.filter.attributes.${name}`,
        message: "attribute names are lowercase letters and digits",
      });
  }
  (spec.filters ?? []).forEach((filter, index) =>
    validateDialect(filter, `spec.filters[${index}]`, problems),
  );
  return problems;
}
