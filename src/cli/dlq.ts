import { InvalidArgumentError, Option, type Command } from "commander";
import { request, type Connection } from "./client.js";
import { output } from "./format.js";
import type { Output } from "./io.js";

const channelPath = (namespace: string, name: string) =>
  `/apis/messaging.knative.dev/v1/namespaces/${encodeURIComponent(namespace)}/channels/${encodeURIComponent(name)}`;

function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError("must be an integer above 0");
  return Number(value);
}

function positiveNumber(value: string): number {
  const rate = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !(rate > 0)) throw new InvalidArgumentError("must be a number above 0");
  return rate;
}

interface Summary {
  id: string;
  source: string;
  type: string;
  destination?: string;
  code?: string;
  error?: string;
}

/**
 * `herald dlq list|show` and `herald redrive`: the dead letters kept in a Herald channel used as a
 * dead-letter sink, and sending them again to where they failed (see control/dead-letters.ts).
 */
export function registerDeadLetterCommands(
  cli: Command,
  connection: () => Promise<Connection>,
  stdout: Output,
): void {
  const dlq = cli
    .command("dlq")
    .description("look at the dead letters kept in a channel used as a dead-letter sink");
  dlq
    .command("list")
    .description("list a channel's dead letters: id, type, where delivery failed, and why")
    .argument("<channel>")
    .option("-n, --namespace <ns>", "namespace", "default")
    .option("--limit <n>", "at most this many (1000 by default)", positiveInteger)
    .addOption(
      new Option("-o, --output <format>", "output format")
        .choices(["table", "yaml", "json"])
        .default("table"),
    )
    .action(async (channel: string, opts: { namespace: string; limit?: number; output: string }) => {
      const query = opts.limit ? `?limit=${opts.limit}` : "";
      const { items } = (await request(
        await connection(),
        "GET",
        `${channelPath(opts.namespace, channel)}/deadletters${query}`,
      )) as { items: Summary[] };
      if (opts.output !== "table") {
        stdout.write(`${output({ items }, opts.output)}\n`);
        return;
      }
      if (items.length === 0) {
        stdout.write(`No dead letters in ${opts.namespace}/${channel}.\n`);
        return;
      }
      const rows = [
        ["ID", "TYPE", "CODE", "DESTINATION", "ERROR"],
        ...items.map((item) => [
          item.id,
          item.type,
          item.code ?? "",
          item.destination ?? "",
          (item.error ?? "").replace(/\s+/g, " ").slice(0, 60),
        ]),
      ];
      const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
      stdout.write(
        rows
          .map((row) =>
            row
              .map((cell, column) => cell.padEnd(widths[column]!))
              .join("   ")
              .trimEnd(),
          )
          .join("\n") + "\n",
      );
    });
  dlq
    .command("show")
    .description("show one dead letter whole: attributes, data, where it failed and why")
    .argument("<channel>")
    .argument("<id>")
    .option("-n, --namespace <ns>", "namespace", "default")
    .addOption(new Option("-o, --output <format>", "output format").choices(["yaml", "json"]).default("yaml"))
    .action(async (channel: string, id: string, opts: { namespace: string; output: string }) => {
      const shown = await request(
        await connection(),
        "GET",
        `${channelPath(opts.namespace, channel)}/deadletters/${encodeURIComponent(id)}`,
      );
      stdout.write(`${output(shown, opts.output)}\n`);
    });

  cli
    .command("redrive")
    .description(
      "send a channel's dead letters again to the destination each failed at (knativeerrordest), without the error extensions",
    )
    .argument("<channel>", "the channel used as a dead-letter sink")
    .option("-n, --namespace <ns>", "namespace", "default")
    .option(
      "--filter <cesql>",
      "only the dead letters this CESQL expression accepts, e.g. \"type = 'order.created'\"",
    )
    .option("--rate <events-per-second>", "send at most this many per second", positiveNumber)
    .option("--limit <n>", "at most this many (1000 by default)", positiveInteger)
    .action(
      async (
        channel: string,
        opts: { namespace: string; filter?: string; rate?: number; limit?: number },
      ) => {
        const body = {
          ...(opts.filter !== undefined ? { filter: opts.filter } : {}),
          ...(opts.rate !== undefined ? { rate: opts.rate } : {}),
          ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
        };
        const report = (await request(
          await connection(),
          "POST",
          `${channelPath(opts.namespace, channel)}/redrive`,
          {
            text: JSON.stringify(body),
            contentType: "application/json",
          },
        )) as { sent: number; failed: number; remained: number };
        stdout.write(
          `${report.sent} sent, ${report.failed} failed again, ${report.remained} remained in ${opts.namespace}/${channel}\n`,
        );
      },
    );
}
