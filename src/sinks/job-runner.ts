import { spawn } from "node:child_process";
import type { Logger } from "pino";
import type { JobSpec } from "../resources/job-sink.js";

/** Where Knative mounts the event file when no volumeMount named `jobsink-event` says otherwise. */
export const DEFAULT_EVENT_MOUNT_PATH = "/etc/jobsink-event";
const EVENT_VOLUME = "jobsink-event";
const STOP_GRACE_MS = 2_000;

export interface JobOutcome {
  readonly succeeded: boolean;
  /** Why it failed: BackoffLimitExceeded, PodFailurePolicy, DeadlineExceeded, Stopped. */
  readonly reason?: string;
  readonly message?: string;
}

type Container = JobSpec["template"]["spec"]["containers"][number];

interface ContainerExit {
  readonly container: string;
  readonly code: number;
}

export interface JobRunOptions {
  /** The job's name, for logs. */
  readonly name: string;
  /** The local folder holding the event file `event` (the volume Knative mounts). */
  readonly eventDir: string;
  /** The environment of a process Herald starts, from the container's variables. */
  environment(extra: Record<string, string>): Record<string, string>;
  readonly logger: Logger;
  /** Aborted when the JobSink is deleted or Herald stops: every process is killed. */
  readonly signal: AbortSignal;
}

/** The container's program and arguments, its event mount path mapped to the local event folder. */
export function commandLine(container: Container, eventDir: string): string[] {
  const mountPath =
    container.volumeMounts?.find((mount) => mount.name === EVENT_VOLUME)?.mountPath ??
    DEFAULT_EVENT_MOUNT_PATH;
  const local = (value: string) => value.replaceAll(mountPath.replace(/\/+$/, ""), eventDir);
  return [...(container.command ?? []), ...(container.args ?? [])].map(local);
}

/**
 * Runs a batch/v1 Job's pods as local processes: a pod is every container's command run at once,
 * and succeeds when all exit 0. Pods run until `completions` succeeded, `parallelism` at a time; a
 * failed pod counts against `backoffLimit` unless a `podFailurePolicy` rule ignores it (or fails
 * the Job at once); `activeDeadlineSeconds` bounds the whole Job. Each container sees K_EVENT_PATH,
 * the folder holding the event file, as Knative's JobSink sets it.
 */
export async function runJob(spec: JobSpec, options: JobRunOptions): Promise<JobOutcome> {
  const stop = new AbortController();
  const deadline = spec.activeDeadlineSeconds
    ? AbortSignal.timeout(spec.activeDeadlineSeconds * 1000)
    : undefined;
  const signal = AbortSignal.any([stop.signal, options.signal, ...(deadline ? [deadline] : [])]);
  let succeeded = 0;
  let failures = 0;
  const running = new Set<Promise<void>>();
  let outcome: JobOutcome | undefined;
  const finish = (result: JobOutcome) => {
    outcome ??= result;
    stop.abort();
  };
  const startPod = () => {
    const pod = runPod(spec, options, signal).then((exits) => {
      running.delete(pod);
      if (outcome) return;
      const failed = exits.filter((exit) => exit.code !== 0);
      if (failed.length === 0) {
        succeeded++;
        if (succeeded >= spec.completions) finish({ succeeded: true });
        return;
      }
      const action = failureAction(spec, failed);
      if (action === "FailJob")
        return finish({
          succeeded: false,
          reason: "PodFailurePolicy",
          message: `container ${failed[0]!.container} exited with ${failed[0]!.code}, which fails the Job`,
        });
      if (action === "Ignore") return;
      failures++;
      if (failures > spec.backoffLimit)
        finish({
          succeeded: false,
          reason: "BackoffLimitExceeded",
          message: `${failures} pods failed (backoffLimit ${spec.backoffLimit}); the last: container ${failed[0]!.container} exited with ${failed[0]!.code}`,
        });
    });
    running.add(pod);
  };
  while (!outcome && !signal.aborted) {
    while (running.size < spec.parallelism && succeeded + running.size < spec.completions) startPod();
    if (running.size === 0) break;
    await Promise.race(running);
  }
  await Promise.all(running);
  if (outcome) return outcome;
  return deadline?.aborted
    ? {
        succeeded: false,
        reason: "DeadlineExceeded",
        message: `the Job ran longer than ${spec.activeDeadlineSeconds} s`,
      }
    : { succeeded: false, reason: "Stopped", message: "the JobSink was deleted or Herald stopped" };
}

/** The first podFailurePolicy rule whose exit codes match a failed container decides; else Count. */
function failureAction(spec: JobSpec, failed: readonly ContainerExit[]): "FailJob" | "Ignore" | "Count" {
  for (const rule of spec.podFailurePolicy?.rules ?? []) {
    const codes = rule.onExitCodes;
    if (!codes) continue;
    const matches = failed.some(
      (exit) =>
        (codes.containerName === undefined || codes.containerName === exit.container) &&
        (codes.operator === "In" ? codes.values.includes(exit.code) : !codes.values.includes(exit.code)),
    );
    if (matches) return rule.action === "FailIndex" ? "FailJob" : rule.action;
  }
  return "Count";
}

function runPod(spec: JobSpec, options: JobRunOptions, signal: AbortSignal): Promise<ContainerExit[]> {
  return Promise.all(
    spec.template.spec.containers.map((container) => runContainer(container, options, signal)),
  );
}

function runContainer(
  container: Container,
  options: JobRunOptions,
  signal: AbortSignal,
): Promise<ContainerExit> {
  const [program, ...args] = commandLine(container, options.eventDir);
  const log = options.logger.child({ job: options.name, container: container.name });
  return new Promise((resolve) => {
    if (!program) return resolve({ container: container.name, code: 127 });
    const env = Object.fromEntries((container.env ?? []).map(({ name, value }) => [name, value]));
    const child = spawn(program, args, {
      cwd: container.workingDir,
      env: options.environment({ ...env, K_EVENT_PATH: options.eventDir }),
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    // Its output is the Job's log (kubectl logs): Herald's log, a line per chunk, at most 4 KiB each.
    child.stdout.on("data", (chunk: Buffer) =>
      log.info({ stream: "stdout" }, chunk.toString("utf8", 0, 4096)),
    );
    child.stderr.on("data", (chunk: Buffer) =>
      log.info({ stream: "stderr" }, chunk.toString("utf8", 0, 4096)),
    );
    const kill = () => {
      signalGroup(child.pid, "SIGTERM");
      setTimeout(() => signalGroup(child.pid, "SIGKILL"), STOP_GRACE_MS).unref();
    };
    signal.addEventListener("abort", kill, { once: true });
    child.once("error", (error) => {
      signal.removeEventListener("abort", kill);
      log.warn({ err: error }, "the Job's command could not start");
      resolve({ container: container.name, code: 127 });
    });
    child.once("exit", (code, killedBy) => {
      signal.removeEventListener("abort", kill);
      resolve({ container: container.name, code: code ?? (killedBy ? 128 + 9 : 1) });
    });
  });
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // The group has exited by itself meanwhile.
  }
}
