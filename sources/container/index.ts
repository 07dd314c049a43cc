import { z } from "zod";
import { processSource } from "../process/index.js";
import { secretKeySelectorSchema, type SourceContext, type SourceFactory } from "../source.js";
import { nativeImageOf, nativeImagesList } from "./images.js";
import type { NativeImage } from "./native-image.js";

/**
 * sources.knative.dev/v1 ContainerSource. Herald runs no containers, so:
 *
 * - a container that names an image Herald runs natively (Knative's heartbeats sample, see
 *   `images.ts`) and no `command` runs inside Herald, with its `args` and `env`: no process starts,
 *   so it needs no `--allow-process-sources`; an arg the image would refuse is refused at apply;
 * - a container with a `command` (and `args`, `env`, `workingDir`) runs it on Herald's host as a
 *   ProcessSource does, with Knative's `K_SINK` and `K_CE_OVERRIDES`, restarted when it exits and
 *   stopped (its whole process group) with the source. That runs any command as Herald's user, so
 *   exactly as ProcessSource: only when Herald was started with `--allow-process-sources` or it
 *   comes from the `--config` folder (`runsProcess`);
 * - a container that names only another image has nothing Herald can run: the source stays not
 *   Ready (`Running` False, `ImageNotRunnable`), naming the images Herald runs.
 *
 * `env` values come from `value` or from a Secret (`valueFrom.secretKeyRef`). The other container and
 * pod fields (ports, resources, securityContext...) describe a container and are kept as written
 * without effect. Applying one needs the API's admin role.
 */
const envSchema = z.object({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name"),
  value: z.string().optional(),
  valueFrom: z.object({ secretKeyRef: secretKeySelectorSchema.shape.secretKeyRef }).optional(),
});

const containerSchema = z
  .looseObject({
    name: z.string().optional(),
    image: z.string().optional(),
    command: z
      .array(z.string().min(1, "must not be empty"))
      .min(1, "must name the program to run")
      .optional(),
    args: z.array(z.string()).optional(),
    env: z.array(envSchema).optional(),
    workingDir: z.string().optional(),
  })
  .superRefine((container, ctx) => {
    const native = !container.command && container.image ? nativeImageOf(container.image) : undefined;
    const problem = native?.argsProblem(container.args ?? []);
    if (problem) ctx.addIssue({ code: "custom", path: ["args", problem.index], message: problem.message });
  });

type Container = z.output<typeof containerSchema>;

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
  // It may run any command as Herald's user: applying one needs the API's admin role.
  privileged: true,
  specSchema,
  // Only a container with a command runs a process; an image Herald runs natively does not.
  runsProcess: (spec) => spec.template.spec.containers.some((container) => container.command !== undefined),
  ceAttributes(spec, resource) {
    const container = spec.template.spec.containers[0]!;
    const native = nativeOf(container);
    if (!native) return undefined;
    // Secrets are not read for the status: a variable from one stands as if unset.
    const env = Object.fromEntries(
      (container.env ?? []).flatMap((variable) =>
        variable.valueFrom ? [] : [[variable.name, variable.value ?? ""] as const],
      ),
    );
    return native.ceAttributes({ args: container.args ?? [], env }, resource);
  },
  async start(spec, context) {
    const container = spec.template.spec.containers[0]!;
    const name = container.name ?? "the container";
    const native = nativeOf(container);
    if (native) {
      const env = Object.fromEntries(
        envOf(container, context).map((variable) => [variable.name, variable.value]),
      );
      return native.start({ args: container.args ?? [], env }, context);
    }
    if (!container.command) {
      context.setCondition(
        "Running",
        "False",
        "ImageNotRunnable",
        `${name} names only ${container.image ? `the image ${container.image}` : "no image and no command"}, ` +
          `which Herald does not run: Herald runs natively ${nativeImagesList()} under any registry, ` +
          "tag or digest, and runs a container's command as a local process (with --allow-process-sources); " +
          "give it a command, or run the image elsewhere and use its address as a sink",
      );
      return { async stop() {} };
    }
    const env = envOf(container, context);
    return processSource.start(
      { command: container.command, args: container.args ?? [], env, workingDir: container.workingDir },
      context,
    );
  },
};

/** The native image a container runs: one it names, when it names no command. */
function nativeOf(container: Container): NativeImage | undefined {
  return !container.command && container.image ? nativeImageOf(container.image) : undefined;
}

/** The container's `env`, Secrets' values read. */
function envOf(container: Container, context: SourceContext): { name: string; value: string }[] {
  return (container.env ?? []).map((variable, index) => {
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
}
