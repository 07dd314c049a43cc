import { z } from "zod";
import type { SourceFactory } from "../source.js";

/**
 * sources.knative.dev/v1 SinkBinding. In Knative it injects `K_SINK` (the resolved sink) and
 * `K_CE_OVERRIDES` into the pods of its subject (a Deployment, a Job...), which then send their own
 * events. Herald runs no pods: it resolves the sink (`status.sinkUri`, kept current as the sink's
 * address changes) and, since no workload of Herald's matches the subject, the `SubjectBound`
 * condition says so and `status.bindingEnv` holds the two variables to give the program by hand.
 * A program Herald should run with them is a ContainerSource or a ProcessSource, which get both.
 */
const specSchema = z.object({
  subject: z
    .object({
      apiVersion: z.string({ error: "is required" }).min(1, "is required"),
      kind: z.string({ error: "is required" }).min(1, "is required"),
      namespace: z.string().optional(),
      name: z.string().min(1).optional(),
      selector: z
        .object({
          matchLabels: z.record(z.string(), z.string()).optional(),
          matchExpressions: z
            .array(
              z.object({
                key: z.string(),
                operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]),
                values: z.array(z.string()).optional(),
              }),
            )
            .optional(),
        })
        .optional(),
    })
    .refine((subject) => (subject.name === undefined) !== (subject.selector === undefined), {
      message: "needs exactly one of name, selector",
    }),
});

function describeSubject(subject: z.output<typeof specSchema>["subject"]): string {
  if (subject.name) return `${subject.apiVersion} ${subject.kind} ${subject.name}`;
  const labels = Object.entries(subject.selector?.matchLabels ?? {}).map(([key, value]) => `${key}=${value}`);
  return `${subject.apiVersion} ${subject.kind} selected by ${labels.length > 0 ? labels.join(",") : "its selector"}`;
}

export const sinkBinding: SourceFactory<typeof specSchema> = {
  group: "sources.knative.dev",
  versions: ["v1"],
  kind: "SinkBinding",
  plural: "sinkbindings",
  shortNames: ["sinkbinding"],
  specSchema,
  start(spec, context) {
    const publish = () => {
      const env = {
        K_SINK: context.sinkUrl(),
        K_CE_OVERRIDES: JSON.stringify({ extensions: context.ceOverrides }),
      };
      context.setStatusFields({ bindingEnv: env });
      context.setCondition(
        "SubjectBound",
        "True",
        "NotRunByHerald",
        `Herald runs no ${describeSubject(spec.subject)}: start it with K_SINK=${env.K_SINK} ` +
          "and K_CE_OVERRIDES from status.bindingEnv",
      );
    };
    publish();
    // The sink's address may change (a Broker re-created elsewhere): keep the variables current.
    let shown = context.sinkUrl();
    const timer = setInterval(() => {
      if (context.sinkUrl() === shown) return;
      shown = context.sinkUrl();
      publish();
    }, 1_000);
    return Promise.resolve({
      async stop() {
        clearInterval(timer);
      },
    });
  },
};
