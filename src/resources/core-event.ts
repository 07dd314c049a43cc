import { z } from "zod";
import type { Resource } from "./common.js";

/**
 * Kubernetes core `v1 Event`: what happened to an object, as controllers record it and
 * `kubectl describe` shows it. Its fields sit at the top level of the object (no spec), as in
 * Kubernetes; a null timestamp (`kubectl get -o yaml` prints `eventTime: null`) is an absent one.
 */
const timestamp = z.iso
  .datetime({ offset: true, error: "must be an RFC 3339 time (2006-01-02T15:04:05Z)" })
  .nullable()
  .optional();

const objectReferenceSchema = z.strictObject({
  apiVersion: z.string().optional(),
  kind: z.string({ error: "is required" }).min(1, "is required"),
  name: z.string({ error: "is required" }).min(1, "is required"),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  fieldPath: z.string().optional(),
});

const fieldsSchema = z.strictObject({
  involvedObject: objectReferenceSchema,
  reason: z.string().max(128, "must be at most 128 characters").optional(),
  message: z.string().optional(),
  type: z.enum(["Normal", "Warning"]).optional(),
  count: z.number().int().min(0, "must be 0 or more").optional(),
  firstTimestamp: timestamp,
  lastTimestamp: timestamp,
  eventTime: timestamp,
  source: z.strictObject({ component: z.string().optional(), host: z.string().optional() }).optional(),
  reportingComponent: z.string().optional(),
  reportingInstance: z.string().optional(),
  action: z.string().optional(),
  related: objectReferenceSchema.nullable().optional(),
  series: z
    .strictObject({ count: z.number().int().optional(), lastObservedTime: timestamp })
    .nullable()
    .optional(),
});

type Fields = z.output<typeof fieldsSchema>;
/** An Event's fields, as stored (its `spec`) and served at the top level; none is null. */
export type CoreEventFields = { [Key in keyof Fields]: Exclude<Fields[Key], null> };

export const coreEventSchema = fieldsSchema.transform((event) => {
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(event)) if (value !== null) kept[key] = value;
  return kept as CoreEventFields;
});

export type CoreEventResource = Resource<"Event", CoreEventFields>;

/**
 * The fields a fieldSelector may name on Events, as the Kubernetes API server selects them
 * (pkg/registry/core/event/strategy.go ToSelectableFields); an absent field is "".
 */
export const EVENT_SELECTABLE_FIELDS: Readonly<Record<string, (event: CoreEventFields) => string>> = {
  "involvedObject.kind": (event) => event.involvedObject.kind,
  "involvedObject.namespace": (event) => event.involvedObject.namespace ?? "",
  "involvedObject.name": (event) => event.involvedObject.name,
  "involvedObject.uid": (event) => event.involvedObject.uid ?? "",
  "involvedObject.apiVersion": (event) => event.involvedObject.apiVersion ?? "",
  "involvedObject.resourceVersion": (event) => event.involvedObject.resourceVersion ?? "",
  "involvedObject.fieldPath": (event) => event.involvedObject.fieldPath ?? "",
  reason: (event) => event.reason ?? "",
  reportingComponent: (event) => event.reportingComponent ?? "",
  source: (event) => event.source?.component ?? "",
  type: (event) => event.type ?? "",
};

/** When an Event last happened: lastTimestamp, else eventTime, else when it was created. */
export function lastSeen(event: CoreEventResource): number {
  const { lastTimestamp, eventTime, series } = event.spec;
  return Date.parse(
    series?.lastObservedTime ?? lastTimestamp ?? eventTime ?? event.metadata.creationTimestamp,
  );
}
