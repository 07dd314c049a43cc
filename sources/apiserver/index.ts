import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { CloudEvent } from "../../src/events/event.js";
import type { SourceContext, SourceFactory, StoredResource } from "../source.js";

/**
 * sources.knative.dev/v1 ApiServerSource over Herald's own resources: Herald is the API server, so
 * the source watches its store (Brokers, Triggers, Channels, sources, ConfigMaps...) and sends
 * Knative's lifecycle events for the resources it selects:
 *
 * - `mode: Reference` (the default): `dev.knative.apiserver.ref.{add,update,delete}` with a
 *   reference (`apiVersion`, `kind`, `name`, `namespace`) as data;
 * - `mode: Resource`: `dev.knative.apiserver.resource.{add,update,delete}` with the whole resource
 *   (metadata, spec and status; a v1 Event's fields at the top level) as data.
 *
 * `source` is Herald's address (the API server's, in Knative), `subject` the resource's path
 * (`/apis/{group}/{version}/namespaces/{ns}/{plural}/{name}`, `/api/v1/...` for core kinds). The
 * resources are those of the source's namespace, or of the namespaces `namespaceSelector` selects;
 * each `resources[]` entry may narrow them with a label `selector` (matchLabels, matchExpressions
 * with In, NotIn, Exists, DoesNotExist), and `owner` keeps those with an owner reference of that
 * apiVersion and kind. On start, every selected resource is sent as an add, as Knative's informers
 * do. An update is any change of the resource, its status included. Secrets are never watched: their
 * values would leave Herald. A kind Herald does not serve (a `v1 Pod`) keeps the source not Ready,
 * naming it. `serviceAccountName` is accepted: Herald has no service accounts and reads its store
 * with no further permission check. `filters` (Knative's SubscriptionsAPI filters, as on a Trigger)
 * are applied by the runtime: only the events they match are sent.
 */
const labelSelectorSchema = z.object({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z
    .array(
      z.object({
        key: z.string().min(1, "is required"),
        operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"], {
          error: "must be In, NotIn, Exists or DoesNotExist",
        }),
        values: z.array(z.string()).optional(),
      }),
    )
    .optional(),
});
type LabelSelector = z.output<typeof labelSelectorSchema>;

const specSchema = z.object({
  mode: z
    .enum(["Reference", "Resource"], { error: 'must be "Reference" or "Resource"' })
    .default("Reference"),
  resources: z
    .array(
      z.object({
        apiVersion: z.string({ error: "is required" }).min(1, "is required"),
        kind: z.string({ error: "is required" }).min(1, "is required"),
        selector: labelSelectorSchema.optional(),
      }),
    )
    .min(1, "must list at least one resource"),
  owner: z.object({ apiVersion: z.string().min(1), kind: z.string().min(1) }).optional(),
  namespaceSelector: labelSelectorSchema.optional(),
  serviceAccountName: z.string().optional(),
});
type Spec = z.output<typeof specSchema>;

export const APISERVER_EVENT_TYPES = {
  Reference: {
    add: "dev.knative.apiserver.ref.add",
    update: "dev.knative.apiserver.ref.update",
    delete: "dev.knative.apiserver.ref.delete",
  },
  Resource: {
    add: "dev.knative.apiserver.resource.add",
    update: "dev.knative.apiserver.resource.update",
    delete: "dev.knative.apiserver.resource.delete",
  },
} as const;

/** How often the store is compared with what was sent (the resource API's watches poll alike). */
const POLL_MS = 250;

/** Kubernetes label selector semantics: every matchLabels pair and every expression must hold. */
export function selects(selector: LabelSelector | undefined, labels: Readonly<Record<string, string>> = {}) {
  if (!selector) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {}))
    if (labels[key] !== value) return false;
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, key);
    if (operator === "Exists" && !has) return false;
    if (operator === "DoesNotExist" && has) return false;
    if (operator === "In" && !(has && values.includes(labels[key]!))) return false;
    if (operator === "NotIn" && has && values.includes(labels[key]!)) return false;
  }
  return true;
}

function selfLink(resource: StoredResource, plural: string): string {
  const prefix = resource.apiVersion.includes("/")
    ? `/apis/${resource.apiVersion}`
    : `/api/${resource.apiVersion}`;
  return `${prefix}/namespaces/${resource.metadata.namespace}/${plural}/${resource.metadata.name}`;
}

interface Seen {
  readonly resource: StoredResource;
  readonly plural: string;
  readonly json: string;
}

/** The resources the spec selects now, by uid; a string naming the problem when one cannot be watched. */
function selected(spec: Spec, context: SourceContext): Map<string, Seen> | string {
  let namespaces: (string | undefined)[] = [context.resource.namespace];
  if (spec.namespaceSelector) {
    const all = context.listResources("v1", "Namespace")?.items ?? [];
    const names = new Set<string>(["default", ...all.map((n) => n.metadata.name)]);
    namespaces = [...names].filter((name) =>
      selects(spec.namespaceSelector, all.find((n) => n.metadata.name === name)?.metadata.labels ?? {}),
    );
  }
  const out = new Map<string, Seen>();
  for (const [index, wanted] of spec.resources.entries()) {
    if (wanted.kind === "Secret" && !wanted.apiVersion.includes("/"))
      return `spec.resources[${index}]: Secrets are not watched (their values would leave Herald)`;
    for (const namespace of namespaces) {
      const found = context.listResources(wanted.apiVersion, wanted.kind, namespace);
      if (!found)
        return (
          `spec.resources[${index}]: Herald serves no ${wanted.apiVersion} ${wanted.kind}; ` +
          "an ApiServerSource watches Herald's own resources (herald api-resources lists them)"
        );
      for (const resource of found.items) {
        if (!selects(wanted.selector, resource.metadata.labels)) continue;
        const { owner } = spec;
        if (
          owner &&
          !resource.metadata.ownerReferences?.some(
            (o) => o.apiVersion === owner.apiVersion && o.kind === owner.kind,
          )
        )
          continue;
        out.set(resource.metadata.uid, { resource, plural: found.plural, json: JSON.stringify(resource) });
      }
    }
  }
  return out;
}

function lifecycleEvent(
  spec: Spec,
  context: SourceContext,
  change: "add" | "update" | "delete",
  seen: Seen,
): CloudEvent {
  const { resource } = seen;
  const data =
    spec.mode === "Reference"
      ? {
          kind: resource.kind,
          namespace: resource.metadata.namespace,
          name: resource.metadata.name,
          apiVersion: resource.apiVersion,
        }
      : resource.apiVersion === "v1" && resource.kind === "Event"
        ? // A core Event has its fields at the top level, as Kubernetes sends it.
          {
            apiVersion: resource.apiVersion,
            kind: resource.kind,
            metadata: resource.metadata,
            ...(resource.spec as Record<string, unknown>),
          }
        : {
            apiVersion: resource.apiVersion,
            kind: resource.kind,
            metadata: resource.metadata,
            spec: resource.spec,
            status: resource.status,
          };
  return {
    attributes: {
      specversion: "1.0",
      id: randomUUID(),
      type: APISERVER_EVENT_TYPES[spec.mode][change],
      source: context.apiUrl,
      subject: selfLink(resource, seen.plural),
      time: new Date().toISOString(),
      datacontenttype: "application/json",
    },
    data: Buffer.from(JSON.stringify(data)),
  };
}

export const apiServerSource: SourceFactory<typeof specSchema> = {
  group: "sources.knative.dev",
  versions: ["v1"],
  kind: "ApiServerSource",
  plural: "apiserversources",
  shortNames: ["apiserversource"],
  filters: true,
  specSchema,
  start(spec, context) {
    let known: Map<string, Seen> | undefined;
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    let running: Promise<void> = Promise.resolve();

    const pass = async () => {
      const now = selected(spec, context);
      if (typeof now === "string") {
        context.setCondition("Watching", "False", "ResourceNotServed", now);
        return;
      }
      context.setCondition("Watching", "True");
      const before = known ?? new Map<string, Seen>();
      for (const [uid, seen] of now) {
        if (stopped) return;
        const earlier = before.get(uid);
        if (earlier?.json === seen.json) continue;
        await context.send(lifecycleEvent(spec, context, earlier ? "update" : "add", seen));
        before.set(uid, seen);
      }
      for (const [uid, seen] of before) {
        if (stopped || now.has(uid)) continue;
        await context.send(lifecycleEvent(spec, context, "delete", seen));
        before.delete(uid);
      }
      known = before;
    };
    const schedule = () => {
      if (stopped) return;
      timer = setTimeout(() => {
        running = pass()
          .catch((error: unknown) => {
            if (!stopped) context.logger.warn({ err: error }, "watching Herald's resources failed; retrying");
          })
          .finally(schedule);
      }, POLL_MS);
    };
    context.setCondition("Watching", "Unknown", "Starting");
    running = pass()
      .catch((error: unknown) => {
        if (!stopped) context.logger.warn({ err: error }, "watching Herald's resources failed; retrying");
      })
      .finally(schedule);
    return Promise.resolve({
      async stop() {
        stopped = true;
        clearTimeout(timer);
        await running.catch(() => undefined);
      },
    });
  },
};
