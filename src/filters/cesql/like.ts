/**
 * CESQL 3.4.3 LIKE: `%` matches any run of characters (also none), `_` exactly one character, `\%`
 * and `\_` the literal characters; everything else matches itself. Characters are Unicode code
 * points, as in the specification's examples.
 *
 * No regular expression: a backtracking engine takes polynomial or exponential time on patterns such
 * as `%a%a%a%b`, and the filter runs on the ingress path. The pattern is split at its `%` into
 * segments once; a value matches when the first segment matches its start, the last its end, and the
 * segments between are found left to right, each at its leftmost place (taking the leftmost place
 * never hurts the segments after it). The time is at most the value's length times the pattern's.
 */
export type LikeMatcher = (value: string) => boolean;

/** One segment between two `%`: code points, `undefined` standing for `_`. */
type Segment = readonly (string | undefined)[];

function segmentsOf(pattern: string): Segment[] {
  const segments: (string | undefined)[][] = [[]];
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    const char = chars[i]!;
    const next = chars[i + 1];
    const current = segments[segments.length - 1]!;
    if (char === "\\" && (next === "%" || next === "_")) {
      current.push(next);
      i++;
    } else if (char === "%") segments.push([]);
    else if (char === "_") current.push(undefined);
    else current.push(char);
  }
  return segments;
}

function matchesAt(chars: readonly string[], at: number, segment: Segment): boolean {
  for (let i = 0; i < segment.length; i++) {
    const wanted = segment[i];
    if (wanted !== undefined && chars[at + i] !== wanted) return false;
  }
  return true;
}

/** Compiles a LIKE pattern once into a matcher that runs in time linear in the value's length. */
export function compileLikePattern(pattern: string): LikeMatcher {
  const segments = segmentsOf(pattern);
  const first = segments[0]!;
  if (segments.length === 1) {
    return (value) => {
      const chars = Array.from(value);
      return chars.length === first.length && matchesAt(chars, 0, first);
    };
  }
  const last = segments[segments.length - 1]!;
  const middle = segments.slice(1, -1).filter((segment) => segment.length > 0);
  const fixedLength = first.length + last.length;
  return (value) => {
    const chars = Array.from(value);
    if (chars.length < fixedLength) return false;
    const end = chars.length - last.length;
    if (!matchesAt(chars, 0, first) || !matchesAt(chars, end, last)) return false;
    let position = first.length;
    for (const segment of middle) {
      let found = -1;
      for (let at = position; at + segment.length <= end; at++) {
        if (matchesAt(chars, at, segment)) {
          found = at;
          break;
        }
      }
      if (found === -1) return false;
      position = found + segment.length;
    }
    return true;
  };
}
