import { stringify } from "yaml";
import type { Condition, Resource } from "../resources/common.js";

function age(timestamp: string | undefined): string {
  if (!timestamp) return "";
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(timestamp)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
}

function readyOf(resource: Resource): Condition | undefined {
  return resource.status?.conditions?.find((c) => c.type === "Ready");
}

/** The value of an EventType's attribute (`spec.attributes[name]`), as `kn eventtype list` shows it. */
function eventTypeAttribute(resource: Resource, name: string): string {
  const { attributes } = resource.spec as { attributes?: { name: string; value?: string }[] };
  return attributes?.find((attribute) => attribute.name === name)?.value ?? "";
}

/**
 * kubectl-like table: NAMESPACE NAME READY REASON URL (SINK for sources) AGE; EventTypes show TYPE,
 * SOURCE and REFERENCE instead of URL.
 */
export function table(resources: Resource[], withNamespace: boolean): string {
  const eventTypes = resources.length > 0 && resources.every((r) => r.kind === "EventType");
  const sources =
    resources.length > 0 &&
    resources.every((r) => "sinkUri" in (r.status ?? {}) || "sink" in ((r.spec ?? {}) as object));
  const rows = resources.map((r) => {
    const ready = readyOf(r);
    return [
      ...(withNamespace ? [r.metadata.namespace] : []),
      r.metadata.name,
      ready?.status ?? "Unknown",
      ready?.reason ?? "",
      ...(eventTypes
        ? [
            eventTypeAttribute(r, "type"),
            eventTypeAttribute(r, "source"),
            ((reference) => (reference ? `${reference.kind}/${reference.name}` : ""))(
              (r.spec as { reference?: { kind: string; name: string } }).reference,
            ),
          ]
        : [(sources ? (r.status?.sinkUri as string | undefined) : r.status?.address?.url) ?? ""]),
      age(r.metadata.creationTimestamp),
    ];
  });
  const header = [
    ...(withNamespace ? ["NAMESPACE"] : []),
    "NAME",
    "READY",
    "REASON",
    ...(eventTypes ? ["TYPE", "SOURCE", "REFERENCE"] : [sources ? "SINK" : "URL"]),
    "AGE",
  ];
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  return all
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join("   ")
        .trimEnd(),
    )
    .join("\n");
}

export function output(value: unknown, format: string): string {
  return format === "json" ? JSON.stringify(value, null, 2) : stringify(value).trimEnd();
}

/** `herald describe`: what a person needs to see why a resource is (not) ready. */
export function describe(resource: Resource): string {
  const lines = [
    `Name:          ${resource.metadata.name}`,
    `Namespace:     ${resource.metadata.namespace}`,
    `Kind:          ${resource.kind} (${resource.apiVersion})`,
    `UID:           ${resource.metadata.uid}`,
    `Generation:    ${resource.metadata.generation} (observed ${resource.status?.observedGeneration ?? "-"})`,
    `Created:       ${resource.metadata.creationTimestamp}`,
  ];
  if (resource.status?.address?.url) lines.push(`Address:       ${resource.status.address.url}`);
  if (typeof resource.status?.sinkUri === "string") lines.push(`Sink:          ${resource.status.sinkUri}`);
  if (typeof resource.status?.webhookUrl === "string")
    lines.push(`Webhook:       ${resource.status.webhookUrl}`);
  // A ConfigMap or Secret is served with `data` and no spec: its keys and sizes, never a value.
  const data = (resource as { data?: Record<string, string> }).data;
  if (resource.spec === undefined && data !== undefined) {
    const size = (value: string) =>
      resource.kind === "Secret" ? Buffer.from(value, "base64").length : Buffer.byteLength(value);
    lines.push("Data:", ...Object.entries(data).map(([key, value]) => `  ${key}: ${size(value)} bytes`));
  } else {
    lines.push(
      "Spec:",
      ...stringify(resource.spec)
        .trimEnd()
        .split("\n")
        .map((l) => `  ${l}`),
    );
  }
  const extra = Object.entries(resource.status ?? {}).filter(
    ([key]) => !["conditions", "address", "observedGeneration"].includes(key),
  );
  if (extra.length)
    lines.push(
      "Status:",
      ...stringify(Object.fromEntries(extra))
        .trimEnd()
        .split("\n")
        .map((l) => `  ${l}`),
    );
  lines.push("Conditions:");
  const conditions = resource.status?.conditions ?? [];
  if (conditions.length === 0) lines.push("  (none yet)");
  for (const c of conditions) {
    lines.push(
      `  ${c.type.padEnd(20)} ${c.status.padEnd(8)} ${c.reason ?? ""}${c.message ? `: ${c.message}` : ""}`,
    );
  }
  return lines.join("\n");
}
