import { InvalidArgumentError, type Command } from "commander";
import { parseReplayFrom } from "../resources/delivery-annotations.js";
import { request, type Connection } from "./client.js";
import type { Output } from "./io.js";

/** The path of a Subscription's or Trigger's replay subresource. */
function replayPath(kind: "subscription" | "trigger", namespace: string, name: string): string {
  return kind === "trigger"
    ? `/apis/eventing.knative.dev/v1/namespaces/${namespace}/triggers/${name}/replay`
    : `/apis/messaging.knative.dev/v1/namespaces/${namespace}/subscriptions/${name}/replay`;
}

/** `--from`: checked before anything is sent, so a typo is a usage error (exit 2). */
function fromOption(value: string): string {
  const parsed = parseReplayFrom(value);
  if (typeof parsed === "string") throw new InvalidArgumentError(parsed);
  return value;
}

/**
 * `herald replay subscription|trigger NAME --from <RFC 3339 time | offset | beginning>`: moves the
 * consumer's position on its channel; the events handed over again carry `heraldreplay`.
 */
export function registerReplayCommand(
  cli: Command,
  connection: () => Promise<Connection>,
  stdout: Output,
): void {
  cli
    .command("replay")
    .description(
      "deliver a Subscription's or Trigger's events again from a time, an offset or the beginning of what its channel keeps",
    )
    .argument("<kind>", "subscription or trigger", (value: string) => {
      const kind = value.toLowerCase().replace(/s$/, "");
      if (kind === "sub" || kind === "subscription") return "subscription" as const;
      if (kind === "trigger") return "trigger" as const;
      throw new InvalidArgumentError('must be "subscription" or "trigger"');
    })
    .argument("<name>")
    .requiredOption(
      "--from <position>",
      "beginning, an RFC 3339 time (2026-12-07T16:00:00Z) or an offset of the channel's backend",
      fromOption,
    )
    .option("-n, --namespace <ns>", "namespace", "default")
    .action(
      async (kind: "subscription" | "trigger", name: string, opts: { from: string; namespace: string }) => {
        const answer = (await request(await connection(), "POST", replayPath(kind, opts.namespace, name), {
          text: JSON.stringify({ from: opts.from }),
          contentType: "application/json",
        })) as { channel: string; mark: string; backend: Record<string, string | number> };
        const facts = Object.entries(answer.backend)
          .map(([key, value]) => `${key}=${value}`)
          .join(" ");
        stdout.write(
          `${kind}/${name} replaying from ${answer.mark} on ${answer.channel}${facts ? ` (${facts})` : ""}\n`,
        );
      },
    );
}
