import { spawn, type ChildProcess } from "node:child_process";
import { z } from "zod";
import type { SourceFactory } from "../source.js";

/**
 * sources.herald.dev/v1alpha1 ProcessSource: Knative's ContainerSource contract for a local process.
 * Herald runs `command` with `K_SINK` (the resolved sink URL) and `K_CE_OVERRIDES` (the JSON of
 * `spec.ceOverrides`) in its environment; the process sends its own CloudEvents to `K_SINK`. When it
 * exits, Herald starts it again after a backoff (1 s doubling to 30 s, back to 1 s once a run lasted
 * a minute), and `status.lastExit` shows how the last run ended.
 *
 * The process sees `spec.env`, the `K_` variables and, of Herald's own environment, only PATH, HOME,
 * LANG and TZ (see `SourceContext.childEnvironment`). It leads its own process group; stopping or deleting the
 * source sends SIGTERM to the whole group, then SIGKILL after 5 s or as soon as the command exited.
 *
 * It runs only when Herald was started with `--allow-process-sources` or it comes from the `--config`
 * folder (`runsProcesses`): anyone who may apply one could otherwise run any command as Herald's user.
 */
const specSchema = z.object({
  command: z.array(z.string().min(1, "must not be empty")).min(1, "must name the program to run"),
  args: z.array(z.string()).default([]),
  env: z
    .array(
      z.object({
        name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name"),
        value: z.string().default(""),
      }),
    )
    .default([]),
  workingDir: z.string().optional(),
});

const FIRST_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;
const STABLE_RUN_MS = 60_000;
const STOP_GRACE_MS = 5_000;

export const processSource: SourceFactory<typeof specSchema> = {
  group: "sources.herald.dev",
  versions: ["v1alpha1"],
  kind: "ProcessSource",
  plural: "processsources",
  shortNames: ["process", "processsource"],
  runsProcesses: true,
  // It runs any command as Herald's user: applying one needs the API's admin role.
  privileged: true,
  specSchema,
  async start(spec, context) {
    const [program, ...commandArgs] = spec.command;
    let child: ChildProcess | undefined;
    let timer: NodeJS.Timeout | undefined;
    let backoff = FIRST_BACKOFF_MS;
    let stopping = false;
    let exited: Promise<void> = Promise.resolve();

    // Signals every process of the group the command leads (the command and what it started). A group
    // with nothing left in it is not an error: the command may have exited on its own meanwhile.
    const signalGroup = (group: number, signal: NodeJS.Signals) => {
      try {
        process.kill(-group, signal);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ESRCH")
          context.logger.error({ err: error, group, signal }, "could not signal the process group");
      }
    };

    const run = () => {
      if (stopping) return;
      const startedAt = Date.now();
      const environment = context.childEnvironment({
        ...Object.fromEntries(spec.env.map((v) => [v.name, v.value])),
        K_SINK: context.sinkUrl(),
        K_CE_OVERRIDES: JSON.stringify({ extensions: context.ceOverrides }),
      });
      const started = spawn(program!, [...commandArgs, ...spec.args], {
        cwd: spec.workingDir,
        env: environment,
        stdio: ["ignore", "pipe", "pipe"],
        // Its own process group, so stopping the source reaches whatever the command started too.
        detached: true,
      });
      child = started;
      const log = (stream: string) => (chunk: Buffer) =>
        context.logger.info({ stream, pid: started.pid }, chunk.toString().trimEnd());
      started.stdout.on("data", log("stdout"));
      started.stderr.on("data", log("stderr"));
      exited = new Promise<void>((resolve) => {
        let done = false;
        const finish = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
          if (done) return;
          done = true;
          child = undefined;
          const lastExit = {
            exitCode: code,
            signal,
            ...(error ? { error: error.message } : {}),
            startedAt: new Date(startedAt).toISOString(),
            finishedAt: new Date().toISOString(),
          };
          context.setStatusFields({ lastExit });
          resolve();
          if (stopping) return;
          if (Date.now() - startedAt >= STABLE_RUN_MS) backoff = FIRST_BACKOFF_MS;
          const what = error
            ? `failed to start: ${error.message}`
            : signal
              ? `killed by ${signal}`
              : `exited with code ${code}`;
          context.setCondition("Running", "False", "Exited", `${what}; restarting in ${backoff} ms`);
          timer = setTimeout(run, backoff);
          backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        };
        started.once("error", (error) => finish(null, null, error));
        started.once("exit", (code, signal) => finish(code, signal));
      });
      started.once("spawn", () => {
        context.setCondition("Running", "True", undefined, `pid ${started.pid}`);
      });
    };
    run();
    return {
      async stop() {
        stopping = true;
        clearTimeout(timer);
        const group = child?.pid;
        if (group !== undefined) {
          signalGroup(group, "SIGTERM");
          const kill = setTimeout(() => signalGroup(group, "SIGKILL"), STOP_GRACE_MS);
          await exited;
          clearTimeout(kill);
          // The command has exited; what it started and left behind in its group goes with it.
          signalGroup(group, "SIGKILL");
        }
      },
    };
  },
};
