import { pino, type Logger } from "pino";

/** One asynchronous JSON logger per process; secrets are redacted by path. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    redact: {
      paths: ["*.password", "*.url", "password", "rabbitmq.url", "kafka.sasl"],
      censor: "[redacted]",
    },
    base: { service: "herald" },
  });
}
