import { z } from "zod";

/**
 * Kafka addresses that manifests name, mapped to the Kafka this Herald reaches
 * (HERALD_KAFKA_BOOTSTRAP_ALIASES=from=to,...): Knative's docs and samples write the bootstrap
 * address of a Kubernetes install (`my-cluster-kafka-bootstrap.kafka:9092`), which resolves nowhere
 * else. A KafkaSource naming `from` connects to `to`; any other address is used as written.
 */
const HOST_PORT = /^[^\s=,]+:\d{1,5}$/;

/** `from=to,...` as a variable gives it; a map (`{ from: to }`) as a config file may. */
export const bootstrapAliasesSchema = z.preprocess(
  (value) =>
    typeof value === "object" && value !== null && !Array.isArray(value)
      ? Object.entries(value)
          .map(([from, to]) => `${from}=${String(to)}`)
          .join(",")
      : value,
  z.string().transform((value, context) => {
    const aliases: Record<string, string> = {};
    for (const item of value
      .split(",")
      .map((part) => part.trim())
      .filter(Boolean)) {
      const [from, to, ...rest] = item.split("=").map((side) => side.trim());
      if (rest.length > 0 || !from || !to || !HOST_PORT.test(from) || !HOST_PORT.test(to)) {
        context.addIssue({ code: "custom", message: `"${item}" is not from=to with host:port on each side` });
        return z.NEVER;
      }
      aliases[from] = to;
    }
    return aliases;
  }),
);

/** The addresses a client connects to: each aliased address replaced by its target. */
export function aliasedServers(
  servers: readonly string[],
  aliases: Readonly<Record<string, string>>,
): string[] {
  return servers.map((server) => aliases[server] ?? server);
}

/** The hint a connection error gets when an address does not resolve and no alias maps it. */
export function aliasHint(servers: readonly string[], aliases: Readonly<Record<string, string>>): string {
  const unmapped = servers.filter((server) => !aliases[server]);
  return unmapped.length === 0
    ? ""
    : ` (to reach this machine's Kafka instead, set HERALD_KAFKA_BOOTSTRAP_ALIASES=${unmapped[0]}=host:port)`;
}
