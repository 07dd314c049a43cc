import { pino, type Logger } from "pino";
import type { ConfigSlice } from "./config-slice.js";

/**
 * One asynchronous JSON logger per process. Secrets are redacted by path: passwords and URLs (which
 * may carry credentials) anywhere one level down, and each plug-in slice's declared secret paths.
 */
export function createLogger(level: string, slices: readonly ConfigSlice[] = []): Logger {
  const secretPaths = slices.flatMap((slice) => slice.secretPaths.map((path) => `${slice.key}.${path}`));
  return pino({
    level,
    redact: { paths: ["*.password", "*.url", "password", ...secretPaths], censor: "[redacted]" },
    base: { service: "herald" },
  });
}
