/**
 * Where a `herald` command reads its input and writes its output, and the environment it reads: the
 * process's own when run as a command, a test's when it runs the CLI in its process (main.ts `main`).
 */
export interface CliIo {
  readonly stdin: AsyncIterable<Buffer | string> | Iterable<Buffer | string>;
  readonly stdout: Output;
  readonly stderr: Output;
  /** What the command reads of the environment (HERALD_SERVER...); this process's when left out. */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined;
}

export interface Output {
  write(text: string): unknown;
}

export const processIo: CliIo = {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
};
