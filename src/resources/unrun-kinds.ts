/**
 * Knative kinds Herald does not run, with what to use instead, in one line each.
 *
 * IntegrationSource and IntegrationSink (Knative's Apache Camel Kamelets) are refused, their file
 * with them: a user who applies one expects events to flow through it, and leaving it aside would
 * run the rest of the file as if it were there. KafkaBinding (deprecated in Knative) only injects
 * Kafka's servers into a Kubernetes workload, which Herald does not run either: it is left aside.
 */
export type UnrunVerdict = { readonly refused: string } | { readonly leftAside: string };

const INTEGRATION_GROUPS: Readonly<Record<string, string>> = {
  IntegrationSource: "sources.knative.dev",
  IntegrationSink: "sinks.knative.dev",
};

const KAFKA_BINDING_GROUPS = ["bindings.knative.dev", "sources.knative.dev"];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The fields of `spec.aws` naming AWS services (`s3`, `sqs`...), leaving out `auth`. */
function awsServices(spec: Record<string, unknown>): string[] {
  return isRecord(spec.aws) ? Object.keys(spec.aws).filter((key) => key !== "auth") : [];
}

function integrationSource(spec: Record<string, unknown>): string {
  const prefix = "Herald does not run IntegrationSource (Apache Camel Kamelets)";
  if (isRecord(spec.timer))
    return `${prefix}: for spec.timer use a PingSource (spec.schedule as a cron schedule, spec.data as the message)`;
  const aws = awsServices(spec);
  if (aws.length > 0)
    return (
      `${prefix} and has no AWS ${aws.join("/")} source: use a ContainerSource or ProcessSource running ` +
      "a program that reads it and posts each event to K_SINK"
    );
  return (
    `${prefix}: use the source kind of that system (PingSource, KafkaSource, RabbitmqSource, ` +
    "CloudPubSubSource, MqttSource...) or a ContainerSource"
  );
}

function integrationSink(spec: Record<string, unknown>): string {
  const prefix = "Herald does not run IntegrationSink (Apache Camel Kamelets)";
  if (isRecord(spec.log))
    return `${prefix}: for spec.log subscribe an HTTP receiver that logs events (Knative's event_display) instead`;
  const aws = awsServices(spec);
  if (aws.length > 0)
    return `${prefix} and has no AWS ${aws.join("/")} sink: use a JobSink running a program that writes the event to it`;
  return `${prefix}: use a KafkaSink, a JobSink or an HTTP subscriber instead`;
}

/**
 * The verdict on a document of a Knative kind Herald knows it does not run, or undefined for any
 * other kind. `body` is the whole document, to name the replacement for what its spec asks.
 */
export function unrunKindVerdict(group: string, kind: string, body: unknown): UnrunVerdict | undefined {
  const spec = isRecord(body) && isRecord(body.spec) ? body.spec : {};
  if (INTEGRATION_GROUPS[kind] === group)
    return { refused: kind === "IntegrationSource" ? integrationSource(spec) : integrationSink(spec) };
  if (kind === "KafkaBinding" && KAFKA_BINDING_GROUPS.includes(group))
    return {
      leftAside:
        "Herald does not run KafkaBinding (deprecated in Knative): it sets Kafka's servers in a workload, " +
        "which Herald does not run; give your program the servers itself, or use a KafkaSource or KafkaSink",
    };
  return undefined;
}
