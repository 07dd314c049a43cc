import { z } from "zod";
import { durationToMs } from "./duration.js";

/** RFC 1123 label names, as Kubernetes requires for metadata.name and namespace. */
const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Kubernetes ObjectMeta, strict: a field that is not one of Kubernetes' is refused with its path.
 * The fields the API server sets, and `generateName` and `finalizers`, are accepted (a manifest
 * read back from Kubernetes or Herald applies as it is) and not kept (see `keptMetadata`): Herald
 * sets uid, generation, resourceVersion and creationTimestamp itself, generates no names and has
 * no finalizers.
 */
export const objectMetaSchema = z.strictObject({
  name: z
    .string({ error: "is required" })
    .max(253, "must be at most 253 characters")
    .regex(dnsSubdomain, "must be a lowercase RFC 1123 subdomain (a-z, 0-9, '-', '.')"),
  namespace: z
    .string()
    .max(63, "must be at most 63 characters")
    .regex(dnsLabel, "must be a lowercase RFC 1123 label (a-z, 0-9, '-')")
    .default("default"),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  uid: z.string().optional(),
  generation: z.number().int().optional(),
  /** `null` in manifests printed by `kubectl create --dry-run -o yaml`. */
  creationTimestamp: z.string().nullable().optional(),
  resourceVersion: z.string().optional(),
  ownerReferences: z
    .array(
      z.strictObject({
        apiVersion: z.string(),
        kind: z.string(),
        name: z.string(),
        uid: z.string().optional(),
        controller: z.boolean().optional(),
        blockOwnerDeletion: z.boolean().optional(),
      }),
    )
    .optional(),
  generateName: z.string().optional(),
  finalizers: z.array(z.string()).optional(),
  selfLink: z.string().optional(),
  deletionTimestamp: z.string().optional(),
  deletionGracePeriodSeconds: z.number().optional(),
  managedFields: z.array(z.unknown()).optional(),
});

/** Validated metadata without the fields Herald accepts but does not keep. */
export function keptMetadata({
  generateName: _generateName,
  finalizers: _finalizers,
  selfLink: _selfLink,
  deletionTimestamp: _deletionTimestamp,
  deletionGracePeriodSeconds: _deletionGracePeriodSeconds,
  managedFields: _managedFields,
  creationTimestamp,
  ...kept
}: z.output<typeof objectMetaSchema>): ObjectMeta {
  return creationTimestamp ? { ...kept, creationTimestamp } : kept;
}
export type ObjectMeta = Omit<
  z.output<typeof objectMetaSchema>,
  | "creationTimestamp"
  | "generateName"
  | "finalizers"
  | "selfLink"
  | "deletionTimestamp"
  | "deletionGracePeriodSeconds"
  | "managedFields"
> & { creationTimestamp?: string };

/** An ISO-8601 duration string, e.g. "PT0.5S". */
export const durationSchema = z
  .string()
  .refine((value) => durationToMs(value) !== undefined, "not an ISO-8601 duration (for example PT1S)");

/** Knative duck/v1 KReference. */
export const kReferenceSchema = z.strictObject({
  apiVersion: z.string({ error: "is required" }).min(1, "is required"),
  kind: z.string({ error: "is required" }).min(1, "is required"),
  name: z.string({ error: "is required" }).min(1, "is required"),
  namespace: z.string().optional(),
});
export type KReference = z.output<typeof kReferenceSchema>;

/**
 * Knative duck/v1 Destination: `ref`, `uri`, or both (then `uri` must be relative and is resolved
 * against the ref's address).
 */
export const destinationSchema = z
  .strictObject({
    ref: kReferenceSchema.optional(),
    uri: z.string().min(1, "must not be empty").optional(),
    CACerts: z.string().optional(),
    audience: z.string().optional(),
  })
  .superRefine((destination, ctx) => {
    if (!destination.ref && !destination.uri) {
      ctx.addIssue({ code: "custom", message: "expected at least one of ref, uri" });
      return;
    }
    if (destination.uri === undefined) return;
    const absolute = URL.canParse(destination.uri);
    if (!destination.ref && !absolute) {
      ctx.addIssue({ code: "custom", path: ["uri"], message: "must be an absolute URL when ref is not set" });
    }
    if (destination.ref && absolute) {
      ctx.addIssue({ code: "custom", path: ["uri"], message: "must be a relative URI when ref is set" });
    }
    if (absolute && !/^https?:$/.test(new URL(destination.uri).protocol)) {
      ctx.addIssue({ code: "custom", path: ["uri"], message: "must be an http or https URL" });
    }
  });
export type Destination = z.output<typeof destinationSchema>;

/**
 * The most retries a DeliverySpec may ask for. Knative sets no bound; with exponential backoff every
 * wait beyond the 24th retry is already the longest a timer holds (24.8 days), so more is a mistake.
 */
export const MAX_RETRY = 1000;

/** Knative duck/v1 DeliverySpec, with Knative's exact field names. */
export const deliverySpecSchema = z.strictObject({
  deadLetterSink: destinationSchema.optional(),
  retry: z.number().int().min(0, "must be >= 0").max(MAX_RETRY, `must be <= ${MAX_RETRY}`).optional(),
  backoffPolicy: z.enum(["linear", "exponential"], { error: 'must be "linear" or "exponential"' }).optional(),
  backoffDelay: durationSchema.optional(),
  timeout: durationSchema.optional(),
  retryAfterMax: durationSchema.optional(),
  /** The HTTP content mode of deliveries: `binary` (Herald's default) or `json` (structured mode). */
  format: z.enum(["json", "binary"], { error: 'must be "json" or "binary"' }).optional(),
});
export type DeliverySpec = z.output<typeof deliverySpecSchema>;

/** Knative apis.Condition. */
export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason?: string;
  message?: string;
  lastTransitionTime: string;
  severity?: "Error" | "Warning" | "Info";
}

export interface ResourceStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  /** Knative duck/v1 Addressable; `audience` is the OIDC audience a sender's token must name. */
  address?: { name?: string; url: string; audience?: string };
  addresses?: { name?: string; url: string; audience?: string }[];
  [field: string]: unknown;
}

/** CloudEvents 1.0 attribute names: lower-case letters and digits. */
const extensionName = /^[a-z0-9]+$/;
const coreAttributes = new Set([
  "specversion",
  "id",
  "source",
  "type",
  "datacontenttype",
  "dataschema",
  "subject",
  "time",
  "data",
  "data_base64",
]);

/** Knative duck/v1 CloudEventOverrides, as every source takes them. */
export const ceOverridesSchema = z.strictObject({
  extensions: z
    .record(
      z.string().refine((name) => extensionName.test(name) && !coreAttributes.has(name), {
        message: "must be a CloudEvents extension name (lower-case letters and digits, not a core attribute)",
      }),
      z.string(),
    )
    .optional(),
});

/**
 * Every Herald resource as stored and served: Kubernetes-shaped. `Spec` is the kind's validated and
 * defaulted spec (its schema's output), so reconcilers read typed fields without casts.
 */
export interface Resource<Kind extends string = string, Spec = Record<string, unknown>> {
  apiVersion: string;
  kind: Kind;
  metadata: ObjectMeta & { uid: string; generation: number; creationTimestamp: string };
  spec: Spec;
  status: ResourceStatus;
}
