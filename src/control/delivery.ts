import type { DeliveryOptions } from "../dispatcher/delivery.js";
import type { DeliverySpec } from "../resources/common.js";
import { durationToMs } from "../resources/duration.js";

/** Knative's defaults when a DeliverySpec leaves a field unset. */
const DEFAULT_BACKOFF_POLICY = "exponential";
const DEFAULT_BACKOFF_DELAY_MS = 200;

/** Turns a validated DeliverySpec (durations as ISO-8601) into the dispatcher's options. */
export function toDeliveryOptions(
  spec: DeliverySpec | undefined,
  deadLetterSink: string | undefined,
  deadLetterSinkCACerts?: string,
): DeliveryOptions {
  const ms = (value: string | undefined) => (value === undefined ? undefined : durationToMs(value));
  return {
    retry: spec?.retry ?? 0,
    backoffPolicy: spec?.backoffPolicy ?? DEFAULT_BACKOFF_POLICY,
    backoffDelayMs: ms(spec?.backoffDelay) ?? DEFAULT_BACKOFF_DELAY_MS,
    timeoutMs: ms(spec?.timeout),
    retryAfterMaxMs: ms(spec?.retryAfterMax),
    deadLetterSink,
    deadLetterSinkCACerts,
    ...(spec?.format ? { format: spec.format } : {}),
  };
}
