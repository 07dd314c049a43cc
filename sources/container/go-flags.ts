/**
 * How Knative's Go images read their arguments: Go's `flag` package for the command line (durations
 * as `time.ParseDuration` reads them: parseGoDuration in src/resources/duration.ts), so an image
 * Herald runs natively takes the args its manifests were written for, and refuses the ones the
 * image itself would exit on.
 */

/** A container argument the image would refuse, by its index in `args`. */
export interface ArgProblem {
  readonly index: number;
  readonly message: string;
}

/**
 * Go's `flag.Parse` over string flags: `-name=value`, `--name=value`, `-name value`, `--name value`;
 * parsing stops at the first argument that is not a flag (or after `--`), and what follows is left to
 * the program. A later value of a flag replaces an earlier one. The first problem ends the parse, as it
 * ends the Go program.
 */
export function parseGoFlags(
  args: readonly string[],
  known: readonly string[],
): { values: Map<string, string>; indexes: Map<string, number>; problem?: ArgProblem } {
  const values = new Map<string, string>();
  /** The index of the arg that set each flag. */
  const indexes = new Map<string, number>();
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    if (arg.length < 2 || !arg.startsWith("-")) break;
    if (arg === "--") break;
    const body = arg.startsWith("--") ? arg.slice(2) : arg.slice(1);
    if (body === "" || body.startsWith("-") || body.startsWith("=")) {
      return { values, indexes, problem: { index, message: `${arg} is not a flag (bad flag syntax)` } };
    }
    const equals = body.indexOf("=");
    const name = equals === -1 ? body : body.slice(0, equals);
    if (!known.includes(name)) {
      const flags = known.map((flag) => `--${flag}`).join(", ");
      return {
        values,
        indexes,
        problem: { index, message: `${arg} is not a flag of this image (it takes ${flags})` },
      };
    }
    indexes.set(name, index);
    if (equals !== -1) {
      values.set(name, body.slice(equals + 1));
    } else if (index + 1 < args.length) {
      values.set(name, args[++index]!);
    } else {
      return { values, indexes, problem: { index, message: `${arg} needs a value` } };
    }
  }
  return { values, indexes };
}
