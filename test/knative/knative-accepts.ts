/**
 * Whether current Knative itself accepts a document, decided from the document alone by rules
 * named after the Kubernetes or Knative behaviour that refuses it. The facts come from the CRDs and
 * webhooks of knative/eventing at 8cf4c4b (config/core/resources/*.yaml,
 * config/channels/in-memory-channel/resources/, pkg/apis/{eventing,messaging}/v1/*_validation.go,
 * pkg/apis/sinks/v1alpha1/job_sink_validation.go),
 * knative-extensions/eventing-kafka-broker at 7d8fe89
 * (control-plane/config/eventing-kafka-broker/100-source/100-kafka-source.yaml) and
 * knative-extensions/eventing-rabbitmq at bd1ee99 (config/source/300-rabbitmqsource.yaml).
 * Herald's own refusals play no part here.
 */
export type KnativeRule = "name" | "version" | "type" | "unknown-field" | "webhook";

export interface KnativeRefusal {
  rule: KnativeRule;
  reason: string;
}

/** Versions served by current Knative's CRDs, for the kinds the corpus uses at other versions. */
const SERVED: Record<string, string[]> = {
  Broker: ["eventing.knative.dev/v1"],
  Trigger: ["eventing.knative.dev/v1"],
  EventType: ["eventing.knative.dev/v1beta3", "eventing.knative.dev/v1beta2", "eventing.knative.dev/v1beta1"],
  Channel: ["messaging.knative.dev/v1"],
  InMemoryChannel: ["messaging.knative.dev/v1"],
  Subscription: ["messaging.knative.dev/v1"],
  PingSource: ["sources.knative.dev/v1", "sources.knative.dev/v1beta2"],
};

type SchemaType = "integer" | "boolean" | "array" | "object";

/** Types in the CRDs' structural schemas, at the paths where the corpus puts other values. */
const TYPES: Record<string, [string, SchemaType][]> = {
  Broker: [
    ["spec.delivery", "object"],
    ["spec.delivery.retry", "integer"],
  ],
  Subscription: [["spec.delivery.retry", "integer"]],
  Trigger: [
    ["spec.delivery.retry", "integer"],
    ["spec.filter", "object"],
    ["spec.filters", "array"],
  ],
  KafkaSource: [
    ["spec.delivery.retry", "integer"],
    ["spec.bootstrapServers", "array"],
    ["spec.topics", "array"],
    ["spec.net.sasl.enable", "boolean"],
    ["spec.net.tls.enable", "boolean"],
  ],
  ApiServerSource: [
    ["spec.resources", "array"],
    ["spec.sink", "object"],
  ],
};

const DESTINATION = ["ref", "uri", "CACerts", "audience"];
/** Objects whose schema lists its fields and keeps no others (no x-kubernetes-preserve-unknown-fields). */
const CLOSED: Record<string, [string, string[]][]> = {
  Trigger: [["spec.filter", ["attributes"]]],
  ApiServerSource: [["spec.sink", DESTINATION]],
  KafkaSource: [
    [
      "spec",
      [
        "bootstrapServers",
        "ceOverrides",
        "consumerGroup",
        "consumers",
        "delivery",
        "initialOffset",
        "net",
        "ordering",
        "sink",
        "topics",
      ],
    ],
    ["spec.sink", DESTINATION],
  ],
  RabbitmqSource: [
    [
      "spec",
      [
        "adapterContainerName",
        "delivery",
        "rabbitmqClusterReference",
        "rabbitmqResourcesConfig",
        "serviceAccountName",
        "sink",
      ],
    ],
  ],
};
/** Every custom resource's top level: what the API server and the CRD schema know. */
const TOP_LEVEL = ["apiVersion", "kind", "metadata", "spec", "status"];

// Kubernetes apimachinery validation: IsDNS1123Subdomain (names) and IsDNS1123Label (namespaces).
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const isSubdomain = (name: string) =>
  name.length <= 253 && name.split(".").every((part) => DNS1123_LABEL.test(part));

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** The value at a dotted path; null counts as absent, as the API server prunes non-nullable nulls. */
function valueAt(document: unknown, path: string): unknown {
  let value = document;
  for (const key of path.split(".")) value = isObject(value) ? value[key] : undefined;
  return value ?? undefined;
}

function hasType(value: unknown, type: SchemaType): boolean {
  switch (type) {
    case "integer":
      return Number.isInteger(value);
    case "boolean":
      return typeof value === "boolean";
    case "array":
      return Array.isArray(value);
    case "object":
      return isObject(value);
  }
}

const isEmpty = (value: unknown) => !isObject(value) || Object.keys(value).length === 0;

/** Knative's validating webhook: TriggerSpec, SubscriptionSpec and JobSinkSpec Validate. */
function webhookProblems(kind: string, document: unknown): string[] {
  const problems: string[] = [];
  if (kind === "Trigger") {
    if (!valueAt(document, "spec.broker") && !valueAt(document, "spec.brokerRef"))
      problems.push("missing field(s): spec.broker");
    if (isEmpty(valueAt(document, "spec.subscriber"))) problems.push("missing field(s): spec.subscriber");
    const filters = valueAt(document, "spec.filters");
    if (Array.isArray(filters))
      filters.forEach((filter, i) => {
        if (isObject(filter) && Object.keys(filter).length > 1)
          problems.push(`spec.filters[${i}]: multiple dialects found, filters can have only one dialect set`);
      });
  }
  if (kind === "JobSink") {
    // JobSinkSpec.Validate creates the Job as a dry run: Kubernetes' Job validation wants a
    // restartPolicy of Never or OnFailure (a pod template's default, Always, is refused).
    const policy = valueAt(document, "spec.job.spec.template.spec.restartPolicy");
    if (policy !== "Never" && policy !== "OnFailure")
      problems.push(
        `spec.job: template.spec.restartPolicy ${JSON.stringify(policy ?? "Always")} is not Never or OnFailure`,
      );
  }
  if (kind === "Subscription") {
    if (isEmpty(valueAt(document, "spec.channel"))) problems.push("missing field(s): spec.channel");
    if (isEmpty(valueAt(document, "spec.subscriber"))) problems.push("missing field(s): spec.subscriber");
  }
  return problems;
}

/** Why current Knative refuses this document (the first rule that applies), or undefined. */
export function knativeRefusal(document: unknown): KnativeRefusal | undefined {
  if (!isObject(document)) return { rule: "type", reason: "the document is not an object" };
  const kind = String(document.kind);
  const name = valueAt(document, "metadata.name");
  const namespace = valueAt(document, "metadata.namespace");
  if (typeof name !== "string" || !isSubdomain(name))
    return { rule: "name", reason: `metadata.name ${JSON.stringify(name)} is not an RFC 1123 subdomain` };
  if (namespace !== undefined && (typeof namespace !== "string" || !DNS1123_LABEL.test(namespace)))
    return {
      rule: "name",
      reason: `metadata.namespace ${JSON.stringify(namespace)} is not an RFC 1123 label`,
    };
  const served = SERVED[kind];
  if (served && !served.includes(String(document.apiVersion)))
    return {
      rule: "version",
      reason: `${kind} is served as ${served.join(", ")}, not ${String(document.apiVersion)}`,
    };
  const unknown = Object.keys(document).filter((key) => !TOP_LEVEL.includes(key));
  for (const [path, fields] of CLOSED[kind] ?? []) {
    const value = valueAt(document, path);
    if (isObject(value))
      unknown.push(
        ...Object.keys(value)
          .filter((key) => !fields.includes(key))
          .map((key) => `${path}.${key}`),
      );
  }
  if (unknown.length) return { rule: "unknown-field", reason: `unknown field(s): ${unknown.join(", ")}` };
  const mistyped = (TYPES[kind] ?? []).filter(([path, type]) => {
    const value = valueAt(document, path);
    return value !== undefined && !hasType(value, type);
  });
  if (mistyped.length)
    return {
      rule: "type",
      reason: mistyped
        .map(([path, type]) => `${path} must be ${type}, is ${JSON.stringify(valueAt(document, path))}`)
        .join("; "),
    };
  const problems = webhookProblems(kind, document);
  if (problems.length) return { rule: "webhook", reason: problems.join("; ") };
  return undefined;
}
