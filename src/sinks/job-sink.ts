import { createHash } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { childEnvironment } from "../config.js";
import type { CloudEvent } from "../events/event.js";
import { toStructuredJson } from "../events/http.js";
import type { Resource } from "../resources/common.js";
import type { JobSinkSpec } from "../resources/job-sink.js";
import { coreKinds } from "../resources/kinds.js";
import { ConditionSet, type ConditionInput } from "../control/conditions.js";
import { PROCESS_SOURCES_DISABLED, type ProcessSourceGate } from "../control/process-sources.js";
import type { SinkAnswer } from "./endpoints.js";
import type { SinkReconcilerDeps } from "./event-transform.js";
import { runJob, type JobOutcome } from "./job-runner.js";

export type JobSinkResource = Resource<"JobSink", JobSinkSpec>;

/** sinks.knative.dev JobSink (Knative's JobSinkCondSet). */
export const jobSinkConditions = new ConditionSet("Addressable");

/** How many jobs a JobSink remembers, so an event delivered again (same source and id) runs once. */
const REMEMBERED_JOBS = 10_000;

interface RunningSink {
  readonly uid: string;
  readonly generation: number;
  readonly stop: AbortController;
  /** Job name → its outcome, undefined while it runs. */
  readonly jobs: Map<string, JobOutcome | undefined>;
  readonly running: Set<Promise<void>>;
}

/** Knative's JobSink names a job after the sink and a hash of the event's source and id. */
export function jobName(sink: string, source: string, id: string): string {
  const hash = createHash("md5").update(`${source}${id}`).digest("hex");
  return `${sink}-${hash}`.slice(0, 63);
}

/** Where the job of an event is (Knative's Location tail), below the sink's address: GET answers its state. */
function location(namespace: string, name: string, event: CloudEvent): string {
  const part = (value: unknown) => encodeURIComponent(String(value));
  return `/sinks/${coreKinds.jobSink.plural}/${namespace}/${name}/sources/${part(event.attributes.source)}/ids/${part(event.attributes.id)}`;
}

const JOB_PATH = /^sources\/([^/]+)\/ids\/([^/]+)$/;

/**
 * sinks.knative.dev JobSink: addressable at `/sinks/jobsinks/{namespace}/{name}`; each event runs the
 * Job once (an event with the same source and id again is answered 202 and not run again), its
 * containers' commands as processes on Herald's host, with the event in the JSON event format in
 * the file `event` of the folder K_EVENT_PATH names (the event volume's mount path in the command is
 * mapped to it). It answers 202 with Knative's Location once the job started. Running commands is
 * privileged: as ProcessSource, only with --allow-process-sources or from the --config folder.
 */
export class JobSinkReconciler {
  private readonly sinks = new Map<string, RunningSink>();
  private static readonly PLURAL = coreKinds.jobSink.plural;

  constructor(
    private readonly deps: SinkReconcilerDeps & {
      readonly processes: ProcessSourceGate;
      readonly dataDir: string;
    },
  ) {}

  reconcile(): void {
    const { store, status } = this.deps;
    const seen = new Set<string>();
    for (const resource of store.list(coreKinds.jobSink)) {
      const { namespace, name } = resource.metadata;
      const key = `${namespace}/${name}`;
      seen.add(key);
      const addressable = this.run(resource, key);
      const url = `${this.deps.baseUrl()}/sinks/${JobSinkReconciler.PLURAL}/${namespace}/${name}`;
      const ready = addressable.status === "True";
      status.set(resource, {
        ...(ready
          ? {
              address: this.deps.endpoints.address(JobSinkReconciler.PLURAL, namespace, name, url),
              addresses: [this.deps.endpoints.address(JobSinkReconciler.PLURAL, namespace, name, url)],
            }
          : {}),
        job: { selector: `sinks.knative.dev/job-sink-name=${name}` },
        conditions: status.conditions(resource, [addressable]),
      });
    }
    for (const key of this.sinks.keys()) if (!seen.has(key)) this.stop(key);
  }

  /** Kills every job's processes and waits for them. */
  async close(): Promise<void> {
    const running = [...this.sinks.values()].flatMap((sink) => [...sink.running]);
    for (const key of [...this.sinks.keys()]) this.stop(key);
    await Promise.all(running);
  }

  private run(resource: JobSinkResource, key: string): ConditionInput {
    const { processes } = this.deps;
    const { namespace, name, uid, generation } = resource.metadata;
    if (!processes.mayRun(resource)) {
      this.stop(key);
      return jobSinkConditions.markFalse("Addressable", PROCESS_SOURCES_DISABLED, processes.remedy());
    }
    const containers = resource.spec.job.spec.template.spec.containers;
    const withoutCommand = containers.findIndex((container) => !container.command?.length);
    if (withoutCommand !== -1) {
      this.stop(key);
      return jobSinkConditions.markFalse(
        "Addressable",
        "CommandRequired",
        `spec.job.spec.template.spec.containers[${withoutCommand}].command: Herald runs the command as a process and runs no images, so the command must be given`,
      );
    }
    const current = this.sinks.get(key);
    if (current && current.uid === uid && current.generation === generation)
      return jobSinkConditions.markTrue("Addressable");
    if (current) this.stop(key);
    const sink: RunningSink = {
      uid,
      generation,
      stop: new AbortController(),
      jobs: new Map(),
      running: new Set(),
    };
    this.sinks.set(key, sink);
    this.deps.endpoints.set(JobSinkReconciler.PLURAL, namespace, name, (event) =>
      this.accept(resource, sink, event),
    );
    this.deps.endpoints.setQuery(JobSinkReconciler.PLURAL, namespace, name, (rest) =>
      jobState(sink, name, rest),
    );
    return jobSinkConditions.markTrue("Addressable");
  }

  private stop(key: string): void {
    const sink = this.sinks.get(key);
    const [namespace, name] = key.split("/") as [string, string];
    this.deps.endpoints.delete(JobSinkReconciler.PLURAL, namespace, name);
    sink?.stop.abort();
    this.sinks.delete(key);
  }

  private async accept(resource: JobSinkResource, sink: RunningSink, event: CloudEvent): Promise<SinkAnswer> {
    const { namespace, name } = resource.metadata;
    const headers = { location: location(namespace, name, event) };
    const job = jobName(name, String(event.attributes.source), String(event.attributes.id));
    if (sink.jobs.has(job)) return { status: 202, headers };
    if (sink.stop.signal.aborted) return { status: 503, message: `JobSink ${namespace}/${name} is stopping` };
    const eventDir = join(this.deps.dataDir, "jobsinks", namespace, job);
    await mkdir(eventDir, { recursive: true });
    await writeFile(join(eventDir, "event"), JSON.stringify(toStructuredJson(event)));
    sink.jobs.set(job, undefined);
    if (sink.jobs.size > REMEMBERED_JOBS) sink.jobs.delete(sink.jobs.keys().next().value!);
    const logger = this.deps.logger.child({ jobSink: `${namespace}/${name}`, job });
    const done = runJob(resource.spec.job.spec, {
      name: job,
      eventDir,
      environment: (extra) => childEnvironment(extra),
      logger,
      signal: sink.stop.signal,
    })
      .then(async (outcome) => {
        sink.jobs.set(job, outcome);
        if (outcome.succeeded) logger.info("job succeeded");
        else logger.warn({ reason: outcome.reason }, `job failed: ${outcome.message}`);
        await rm(eventDir, { recursive: true, force: true });
      })
      .catch((error: unknown) => logger.error({ err: error }, "running the job failed"))
      .finally(() => sink.running.delete(done));
    sink.running.add(done);
    return { status: 202, headers };
  }
}

/**
 * A job's state at its Location, as Knative's JobSink answers it: 200 once it succeeded, 400 when
 * it failed (with the reason), 202 while it runs, 404 for an event it has no job of.
 */
function jobState(sink: RunningSink, name: string, rest: string): SinkAnswer {
  const match = JOB_PATH.exec(rest);
  if (!match) return { status: 404, message: "expected sources/{source}/ids/{id}" };
  let source: string;
  let id: string;
  try {
    source = decodeURIComponent(match[1]!);
    id = decodeURIComponent(match[2]!);
  } catch {
    return { status: 400, message: "the source or id is not percent-encoded UTF-8" };
  }
  const job = jobName(name, source, id);
  if (!sink.jobs.has(job)) return { status: 404, message: `no job for the event ${id} from ${source}` };
  const outcome = sink.jobs.get(job);
  if (!outcome) return { status: 202 };
  return outcome.succeeded
    ? { status: 200 }
    : { status: 400, message: `${outcome.reason ?? "Failed"}: ${outcome.message ?? "the job failed"}` };
}
