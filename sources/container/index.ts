import { z } from "zod";
import { processSource } from "../process/index.js";
import { secretKeySelectorSchema, type SourceFactory } from "../source.js";

/**
 * sources.knative.dev/v1 ContainerSource, mapped to a local process: Herald runs no containers, so
 * the container's `command` (with `args`, `env` and `workingDir`) runs on Herald's host as a
 * ProcessSource does, with Knative's `K_SINK` and `K_CE_OVERRIDES`, restarted when it exits and
 * stopped (its whole process group) with the source. `env` values come from `value` or from a Secret
 * (`valueFrom.secretKeyRef`).
 *
 * A container that names only an `image` has nothing Herald can run: the source stays not Ready
 * (`Running` False, `ImageNotRunnable`) saying to give the container a command. The image and the
 * other container and pod fields (ports, resources, securityContext...) describe a container and
 * are kept as written without effect.
 *
 * It runs any command as Herald's user, so exactly as ProcessSource: only when Herald was started
 * with `--allow-process-sources` or it comes from the `--config` folder, and applying one needs the
 * API's admin role.
 */
const envSchema = z.object({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name"),
  value: z.string().optional(),
  valueFrom: z.object({ secretKeyRef: secretKeySelectorSchema.shape.secretKeyRef }).optional(),
});

const containerSchema = z.looseObject({
  name: z.string().optional(),
  image: z.string().optional(),
  command: z.array(z.string().min(1, "must not be empty")).min(1, "must name the program to run").optional(),
  args: z.array(z.string()).optional(),
  env: z.array(envSchema).optional(),
  workingDir: z.string().optional(),
});

const specSchema = z.object({
  template: z.object({
    metadata: z.looseObject({}).optional(),
    spec: z.looseObject({
      containers: z
        .array(containerSchema)
        .min(1, "must list the container to run")
        .max(1, "Herald runs one container per ContainerSource"),
    }),
  }),
});

export const containerSource: SourceFactory<typeof specSchema> = {
  group: "sources.knative.dev",
  versions: ["v1"],
  kind: "ContainerSource",
  plural: "containersources",
  shortNames: ["containersource"],
  runsProcesses: true,
  // It runs any command as Herald's user: applying one needs the API's admin role.
  privileged: true,
  specSchema,
  async start(spec, context) {
    const container = spec.template.spec.containers[0]!;
    const name = container.name ?? "the container";
    if (!container.command) {
      context.setCondition(
        "Running",
        "False",
        "ImageNotRunnable",
        `Herald runs a container's command as a local process, and ${name} names only ` +
          `${container.image ? `the image ${container.image}` : "no command"}: give it a command ` +
          "(a program on Herald's host), or run the image elsewhere and use its address as a sink",
      );
      return { async stop() {} };
    }
    const env = (container.env ?? []).map((variable, index) => {
      const ref = variable.valueFrom?.secretKeyRef;
      if (!ref) return { name: variable.name, value: variable.value ?? "" };
      try {
        return { name: variable.name, value: context.secret(ref) };
      } catch (error) {
        throw new Error(
          `spec.template.spec.containers[0].env[${index}].valueFrom.secretKeyRef: ${(error as Error).message}`,
          { cause: error },
        );
      }
    });
    return processSource.start(
      { command: container.command, args: container.args ?? [], env, workingDir: container.workingDir },
      context,
    );
  },
};
