import { z } from "zod";

/**
 * `spec.aws` of an IntegrationSource or IntegrationSink: Knative runs an Apache Camel Kamelet for
 * each AWS service, which Herald does not have, so each one is refused at its path, saying what to
 * run instead (`instead`).
 */
export function refusedAwsSchema(role: "source" | "sink", instead: string) {
  return z.looseObject({}).superRefine((aws, ctx) => {
    for (const service of Object.keys(aws).filter((key) => key !== "auth"))
      ctx.addIssue({
        code: "custom",
        path: [service],
        message: `Herald has no AWS ${service} ${role} (Knative runs an Apache Camel Kamelet for it): ${instead}`,
      });
  });
}
