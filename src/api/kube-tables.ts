import type { Resource } from "../resources/common.js";
import { lastSeen, type CoreEventFields, type CoreEventResource } from "../resources/core-event.js";
import type { KindDefinition } from "../resources/kinds.js";
import { isCoreEvent, text } from "./kube-objects.js";

/**
 * The meta.k8s.io Tables `kubectl get` prints: Knative's printer columns (its CRDs'
 * additionalPrinterColumns) for Herald's kinds, the API server's for core Events.
 */
/** Kubernetes' age format (k8s.io/apimachinery duration.HumanDuration): 45s, 3m12s, 2h5m, 4d. */
export function humanDuration(milliseconds: number): string {
  const seconds = Math.floor(milliseconds / 1000);
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return hours % 24 === 0 ? `${hours / 24}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (hours < 24 * 365 * 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`;
  return `${years}y`;
}

interface Column {
  readonly name: string;
  readonly type: "string" | "date" | "integer";
  readonly description: string;
  readonly cell: (resource: Resource) => string | number;
}

const ready = (resource: Resource) => resource.status.conditions?.find((c) => c.type === "Ready");

const NAME: Column = {
  name: "Name",
  type: "string",
  description: "metadata.name",
  cell: (r) => r.metadata.name,
};
const AGE: Column = {
  name: "Age",
  type: "date",
  description: "time since metadata.creationTimestamp",
  cell: (r) => humanDuration(Date.now() - Date.parse(r.metadata.creationTimestamp)),
};
const READY: Column = {
  name: "Ready",
  type: "string",
  description: "the Ready condition's status",
  cell: (r) => ready(r)?.status ?? "",
};
const REASON: Column = {
  name: "Reason",
  type: "string",
  description: "the Ready condition's reason",
  cell: (r) => ready(r)?.reason ?? "",
};
const URL: Column = {
  name: "URL",
  type: "string",
  description: "status.address.url",
  cell: (r) => r.status.address?.url ?? "",
};
/** An EventType's columns, as Knative's v1beta3 CRD prints them. */
const EVENT_TYPE_COLUMNS: Column[] = (() => {
  const spec = (r: Resource) =>
    r.spec as {
      attributes?: { name: string; value?: string }[];
      reference?: { name?: string; kind?: string };
      description?: string;
    };
  const attribute = (name: string): Column => ({
    name: name[0]!.toUpperCase() + name.slice(1),
    type: "string",
    description: `spec.attributes[name=${name}].value`,
    cell: (r) => text(spec(r).attributes?.find((a) => a.name === name)?.value),
  });
  return [
    attribute("type"),
    attribute("source"),
    {
      name: "Reference Name",
      type: "string",
      description: "spec.reference.name",
      cell: (r) => text(spec(r).reference?.name),
    },
    {
      name: "Reference Kind",
      type: "string",
      description: "spec.reference.kind",
      cell: (r) => text(spec(r).reference?.kind),
    },
    {
      name: "Description",
      type: "string",
      description: "spec.description",
      cell: (r) => text(spec(r).description),
    },
  ];
})();

/** A core Event's columns, as the Kubernetes API server prints them (pkg/printers/internalversion). */
const EVENT_COLUMNS: Column[] = (() => {
  const fields = (r: Resource) => r.spec as CoreEventFields;
  return [
    {
      name: "Last Seen",
      type: "string",
      description: "time since the Event was last seen",
      cell: (r) => humanDuration(Date.now() - lastSeen(r as CoreEventResource)),
    },
    { name: "Type", type: "string", description: "type", cell: (r) => text(fields(r).type) },
    { name: "Reason", type: "string", description: "reason", cell: (r) => text(fields(r).reason) },
    {
      name: "Object",
      type: "string",
      description: "involvedObject, as kind/name",
      cell: (r) => `${fields(r).involvedObject.kind.toLowerCase()}/${fields(r).involvedObject.name}`,
    },
    { name: "Message", type: "string", description: "message", cell: (r) => text(fields(r).message) },
  ];
})();

/** Knative's printer columns (its CRDs' additionalPrinterColumns) by what the kind is. */
function columnsOf(definition: KindDefinition): Column[] {
  if (isCoreEvent(definition)) return EVENT_COLUMNS;
  switch (definition.role) {
    case "broker":
    case "channel":
    case "backing-channel":
    case "flow":
    case "sink":
      return [NAME, URL, AGE, READY, REASON];
    case "registry":
      return [NAME, ...EVENT_TYPE_COLUMNS, READY, REASON];
    case "trigger":
      return [
        NAME,
        {
          name: "Broker",
          type: "string",
          description: "spec.broker",
          cell: (r) => text((r.spec as { broker?: unknown }).broker),
        },
        {
          name: "Subscriber_URI",
          type: "string",
          description: "status.subscriberUri",
          cell: (r) => text(r.status.subscriberUri),
        },
        AGE,
        READY,
        REASON,
      ];
    case "source":
      return [
        NAME,
        { name: "Sink", type: "string", description: "status.sinkUri", cell: (r) => text(r.status.sinkUri) },
        AGE,
        READY,
        REASON,
      ];
    case "config":
      return [
        NAME,
        {
          name: "Data",
          type: "integer",
          description: "the number of data keys",
          cell: (r) => Object.keys(r.spec).length,
        },
        AGE,
      ];
    default:
      return [NAME, AGE, READY, REASON];
  }
}

export type IncludeObject = "None" | "Metadata" | "Object";

/**
 * A meta.k8s.io/v1 Table of `resources`, as `kubectl get` asks with `Accept: ...;as=Table`; with
 * includeObject=Object each row holds the resource as `served` shows it.
 */
export function table(
  definition: KindDefinition,
  resources: readonly Resource[],
  include: IncludeObject,
  resourceVersion: string,
  served: (resource: Resource) => unknown = (resource) => resource,
) {
  const columns = columnsOf(definition);
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: { resourceVersion },
    columnDefinitions: columns.map(({ name, type, description }, index) => ({
      name,
      type,
      format: index === 0 ? "name" : "",
      description,
      priority: 0,
    })),
    rows: resources.map((resource) => ({
      cells: columns.map((column) => column.cell(resource)),
      object:
        include === "Object"
          ? served(resource)
          : include === "Metadata"
            ? {
                kind: "PartialObjectMetadata",
                apiVersion: "meta.k8s.io/v1",
                metadata: resource.metadata,
              }
            : undefined,
    })),
  };
}
