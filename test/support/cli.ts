import { spawn } from "node:child_process";
import { main } from "../../src/cli/main.js";
import { heraldCommand } from "./entry.js";

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface CliOptions {
  readonly stdin?: string;
  /** The whole environment the command sees (its process environment, or what it reads of it). */
  readonly env?: Record<string, string>;
}

/**
 * Runs a herald command (`herald ...args`) in this process, through the CLI's `main` with its input,
 * output and environment given, and resolves with its exit code and output: what a user's shell
 * would see, without starting a process per command. `stdin` is piped in (`apply -f -`). Commands
 * that must be a process of their own (`serve`, signals) use runCliProcess.
 */
export async function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    stdin: [options.stdin ?? ""],
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: options.env,
  });
  return { code, stdout, stderr };
}

/** Runs the herald CLI as a process, as a user would, and resolves with its exit code and output. */
export function runCliProcess(args: readonly string[], options: CliOptions = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, heraldCommand(...args), {
      stdio: ["pipe", "pipe", "pipe"],
      ...(options.env ? { env: options.env } : {}),
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.stdin ?? "");
  });
}
