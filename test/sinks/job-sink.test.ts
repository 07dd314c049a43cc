import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { defaultPlugins } from "../../src/default-plugins.js";
import { kindsOf } from "../../src/plugins.js";
import { eventually } from "../support/eventually.js";
import { InProcessHerald, postEvent } from "../support/herald.js";

interface Status {
  address?: { url: string };
  conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
}

const jobSink = (name: string, script: string, job: string, out: string) => `
apiVersion: sinks.knative.dev/v1alpha1
kind: JobSink
metadata:
  name: ${name}
spec:
  job:
    spec:
${job}
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: main
              image: docker.io/library/bash:5
              command: ["sh", "-c"]
              args: ['${script}']
              env:
                - name: OUT
                  value: ${out}
`;

describe("JobSink", () => {
  let herald: InProcessHerald;
  let dataDir: string;
  let out: string;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "herald-jobsink-"));
    out = await mkdtemp(join(tmpdir(), "herald-jobsink-out-"));
    herald = await InProcessHerald.start({ dataDir, config: { allowProcessSources: true } });
  });
  after(async () => {
    await herald.close();
    await rm(dataDir, { recursive: true, force: true });
    await rm(out, { recursive: true, force: true });
  });

  const path = (name: string) => `/apis/sinks.knative.dev/v1alpha1/namespaces/default/jobsinks/${name}`;
  const ready = (status: Status | undefined) =>
    status?.conditions?.find((c) => c.type === "Ready")?.status === "True" && status;

  it("runs the job's command once per event, reading the event from the file Knative mounts", async () => {
    await herald.apply(
      jobSink("copier", 'cp /etc/jobsink-event/event "$OUT/$(basename $K_EVENT_PATH).json"', "", out),
    );
    const status = await eventually(async () =>
      ready((await herald.get<{ status?: Status }>(path("copier"))).body.status),
    );
    assert.match(status.address!.url, /\/sinks\/jobsinks\/default\/copier$/);

    const response = await fetch(status.address!.url, {
      method: "POST",
      headers: {
        "ce-specversion": "1.0",
        "ce-id": "job-1",
        "ce-type": "dev.herald.job",
        "ce-source": "/jobs",
        "content-type": "application/json",
      },
      body: JSON.stringify({ task: 1 }),
    });
    assert.equal(response.status, 202);
    const location = response.headers.get("location");
    assert.equal(location, "/sinks/jobsinks/default/copier/sources/%2Fjobs/ids/job-1");
    // The job's state at its Location: 202 while it runs, then 200.
    await eventually(async () => (await fetch(`${herald.url}${location}`)).status === 200);
    assert.equal(
      (await fetch(`${herald.url}/sinks/jobsinks/default/copier/sources/%2Fjobs/ids/other`)).status,
      404,
    );
    // The same event again (same source and id) does not run a second job.
    assert.equal(await postEvent(status.address!.url, { id: "job-1", source: "/jobs" }), 202);
    assert.equal(
      await postEvent(status.address!.url, { id: "job-2", source: "/jobs", data: '{"task":2}' }),
      202,
    );

    const files = await eventually(async () => {
      const names = await readdir(out);
      return names.length === 2 && names;
    });
    const events = await Promise.all(
      files.map(
        async (file) => JSON.parse(await readFile(join(out, file), "utf8")) as { id: string; data: unknown },
      ),
    );
    assert.deepEqual(events.map((event) => [event.id, event.data]).sort(), [
      ["job-1", { task: 1 }],
      ["job-2", { task: 2 }],
    ]);
  });

  it("retries a failing pod up to backoffLimit, and stops at once on a podFailurePolicy FailJob exit code", async () => {
    const runs = join(out, "runs");
    await herald.apply(
      `${jobSink("flaky", 'echo run >> "$OUT/flaky"; exit 1', "      backoffLimit: 2", runs)}
---
${jobSink(
  "failing",
  'echo run >> "$OUT/failing"; exit 42',
  `      completions: 3
      backoffLimit: 6
      podFailurePolicy:
        rules:
          - action: FailJob
            onExitCodes:
              containerName: main
              operator: In
              values: [42]`,
  runs,
)}`,
    );
    await mkdir(runs, { recursive: true });
    for (const name of ["flaky", "failing"]) {
      const status = await eventually(async () =>
        ready((await herald.get<{ status?: Status }>(path(name))).body.status),
      );
      assert.equal(await postEvent(status.address!.url, { id: `${name}-1` }), 202);
    }
    const lines = async (file: string) =>
      (await readFile(join(runs, file), "utf8").catch(() => "")).split("\n").filter(Boolean).length;
    // backoffLimit 2: the first run and two retries.
    await eventually(async () => (await lines("flaky")) === 3);
    await eventually(async () => (await lines("failing")) === 1);
    const failed = await eventually(async () => {
      const answer = await fetch(
        `${herald.url}/sinks/jobsinks/default/failing/sources/%2Ftest/ids/failing-1`,
      );
      return answer.status === 400 && ((await answer.json()) as { message: string });
    });
    assert.match(failed.message, /^PodFailurePolicy: container main exited with 42/);
  });

  it("is privileged, refused through the API without --allow-process-sources, and not Ready when stored from before", async () => {
    assert.equal(kindsOf(defaultPlugins).byName("jobsink")?.privileged, true);
    await herald.close();
    herald = await InProcessHerald.start({ dataDir });
    const status = await eventually(async () => {
      const current = (await herald.get<{ status?: Status }>(path("copier"))).body.status;
      return current?.conditions?.find((c) => c.type === "Ready" && c.status === "False") && current;
    });
    const condition = status.conditions!.find((c) => c.type === "Ready")!;
    assert.equal(condition.reason, "ProcessSourcesDisabled");
    assert.match(condition.message!, /--allow-process-sources/);
    assert.equal(status.address, undefined);
    const refused = await herald.applyRejected(jobSink("another", "true", "", out));
    assert.match(refused, /JobSink default\/another would run a command on Herald's host/);
  });
});
