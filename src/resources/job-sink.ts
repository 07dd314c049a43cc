import { z } from "zod";

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name");
const labels = z.record(z.string(), z.string()).optional();

/**
 * A batch/v1 Job's container, as far as Herald runs it: `command` and `args` as a process on its
 * host (`image` names what Kubernetes would pull; Herald runs no images), `env` values, `workingDir`,
 * and the `volumeMounts` entry named `jobsink-event` that says where the event file is read.
 */
const containerSchema = z.strictObject({
  name: z.string({ error: "is required" }).min(1, "is required"),
  image: z.string().optional(),
  imagePullPolicy: z.enum(["Always", "IfNotPresent", "Never"]).optional(),
  command: z.array(z.string()).optional(),
  args: z.array(z.string()).optional(),
  env: z.array(z.strictObject({ name: envName, value: z.string().default("") })).optional(),
  workingDir: z.string().optional(),
  volumeMounts: z
    .array(
      z.strictObject({
        name: z.string(),
        mountPath: z.string().min(1, "is required"),
        readOnly: z.boolean().optional(),
      }),
    )
    .optional(),
});

/** batch/v1 PodFailurePolicy; pod conditions never occur for a local process, so those rules never match. */
const podFailurePolicySchema = z.strictObject({
  rules: z.array(
    z.strictObject({
      action: z.enum(["FailJob", "Ignore", "Count", "FailIndex"]),
      onExitCodes: z
        .strictObject({
          containerName: z.string().optional(),
          operator: z.enum(["In", "NotIn"]),
          values: z.array(z.number().int()).min(1, "must list at least one exit code"),
        })
        .optional(),
      onPodConditions: z
        .array(z.strictObject({ type: z.string(), status: z.string().optional() }))
        .optional(),
    }),
  ),
});

/**
 * sinks.knative.dev/v1alpha1 JobSink: `spec.job` is a batch/v1 Job; each event runs it once, as
 * processes on Herald's host. `completions` (1), `parallelism` (1), `backoffLimit` (6),
 * `activeDeadlineSeconds` and `podFailurePolicy` mean what they mean for a Job.
 */
export const jobSinkSpecSchema = z.strictObject({
  job: z.strictObject(
    {
      apiVersion: z.literal("batch/v1", { error: 'must be "batch/v1"' }).optional(),
      kind: z.literal("Job", { error: 'must be "Job"' }).optional(),
      metadata: z.strictObject({ labels, annotations: labels }).optional(),
      spec: z.strictObject(
        {
          completions: z.number().int().min(1, "must be >= 1").default(1),
          parallelism: z.number().int().min(1, "must be >= 1").default(1),
          backoffLimit: z.number().int().min(0, "must be >= 0").default(6),
          activeDeadlineSeconds: z.number().int().min(1, "must be >= 1").optional(),
          podFailurePolicy: podFailurePolicySchema.optional(),
          template: z.strictObject(
            {
              metadata: z.strictObject({ labels, annotations: labels }).optional(),
              spec: z.strictObject(
                {
                  // Kubernetes' Job validation: a Job's pods never restart by themselves.
                  restartPolicy: z.enum(["Never", "OnFailure"], {
                    error: 'is required: "Never" or "OnFailure" (a Job\'s pods may not restart Always)',
                  }),
                  containers: z
                    .array(containerSchema, { error: "is required" })
                    .min(1, "must have at least one container"),
                },
                { error: "is required" },
              ),
            },
            { error: "is required" },
          ),
        },
        { error: "is required" },
      ),
    },
    { error: "is required" },
  ),
});
export type JobSinkSpec = z.output<typeof jobSinkSpecSchema>;
export type JobSpec = JobSinkSpec["job"]["spec"];
