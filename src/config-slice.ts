import { z } from "zod";

/**
 * A plug-in's part of Herald's configuration: its settings live under `key` in the configuration
 * object (`kafka.bootstrapServers`), come from flags, environment variables and defaults like the
 * core settings, and are validated once at start with the rest.
 */
export interface ConfigSlice<Config = unknown> {
  /** Where the settings live in the configuration object, e.g. "kafka". */
  readonly key: string;
  /** Validates and defaults the slice; it must accept `{}` when every setting has a default. */
  readonly schema: z.ZodType<Config>;
  /** Environment variables, by the path inside the slice they set (e.g. HERALD_KAFKA_CLIENT_ID: "clientId"). */
  readonly variables: Readonly<Record<string, string>>;
  /** Settings built from several variables at once (e.g. SASL credentials); merged under the variables. */
  fromEnvironment?(env: Readonly<Record<string, string | undefined>>): Record<string, unknown> | undefined;
  /** Paths inside the slice that hold secrets: redacted in logs, never shown in status or errors. */
  readonly secretPaths: readonly string[];
}

/** A boolean setting: environment variables arrive as strings, flags and files may give booleans. */
export const booleanish = z.union([
  z.boolean(),
  z.enum(["true", "false", "1", "0"]).transform((value) => value === "true" || value === "1"),
]);

/** A list setting: a comma-separated string (as variables give it) or a list. */
export const commaList = z
  .string()
  .transform((value) =>
    value
      .split(",")
      .map((item) => item.trim())
      .filter(Boolean),
  )
  .or(z.array(z.string()));
