import { z } from "zod";

/**
 * Kubernetes' Service and Knative Serving's: a sink that references one resolves to a URL by
 * Herald's service URL rule (HERALD_SERVICE_URL_TEMPLATE), unless a SinkMapping names it.
 */
export const SERVICE_KINDS: readonly { readonly group: string; readonly kind: string }[] = [
  { group: "", kind: "Service" },
  { group: "serving.knative.dev", kind: "Service" },
];

export function groupOf(apiVersion: string): string {
  const at = apiVersion.lastIndexOf("/");
  return at === -1 ? "" : apiVersion.slice(0, at);
}

export function isServiceKind(apiVersion: string, kind: string): boolean {
  const group = groupOf(apiVersion);
  return SERVICE_KINDS.some((service) => service.group === group && service.kind === kind);
}

/**
 * messaging.herald.dev/v1alpha1 SinkMapping: the URL of something Herald does not run, for the
 * sinks, subscribers, replies and dead-letter sinks that reference it (`ref`) in the mapping's
 * namespace: a Service whose URL the service rule does not give, a KafkaSink, a JobSink... The
 * reference is matched by API group, kind and name; its version does not matter.
 */
export const sinkMappingSpecSchema = z.strictObject({
  ref: z.strictObject(
    {
      apiVersion: z.string({ error: "is required" }).min(1, "is required"),
      kind: z.string({ error: "is required" }).min(1, "is required"),
      name: z.string({ error: "is required" }).min(1, "is required"),
    },
    { error: "is required" },
  ),
  uri: z
    .string({ error: "is required" })
    .refine(
      (uri) => URL.canParse(uri) && /^https?:$/.test(new URL(uri).protocol),
      "must be an absolute http or https URL",
    ),
});
export type SinkMappingSpec = z.output<typeof sinkMappingSpecSchema>;
