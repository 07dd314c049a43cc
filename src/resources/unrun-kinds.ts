/**
 * Knative kinds Herald does not run, with what to use instead, in one line each.
 *
 * KafkaBinding (deprecated in Knative) only injects Kafka's servers into a Kubernetes workload,
 * which Herald does not run either: it is left aside. (IntegrationSource and IntegrationSink are
 * served: their AWS variants are refused by their own schemas, at the field.)
 */
export interface UnrunVerdict {
  readonly leftAside: string;
}

const KAFKA_BINDING_GROUPS = ["bindings.knative.dev", "sources.knative.dev"];

/** The verdict on a document of a Knative kind Herald knows it does not run, or undefined for any other kind. */
export function unrunKindVerdict(group: string, kind: string): UnrunVerdict | undefined {
  if (kind === "KafkaBinding" && KAFKA_BINDING_GROUPS.includes(group))
    return {
      leftAside:
        "Herald does not run KafkaBinding (deprecated in Knative): it sets Kafka's servers in a workload, " +
        "which Herald does not run; give your program the servers itself, or use a KafkaSource or KafkaSink",
    };
  return undefined;
}
