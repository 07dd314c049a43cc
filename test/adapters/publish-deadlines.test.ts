import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PublishDeadlines } from "../../adapters/publish-deadlines.js";
import { HeraldError } from "../../src/errors.js";

/**
 * The deadline sweep adapters wait for their backend's acknowledgement with: a publish resolves with
 * its work, is rejected with BackendUnavailable (and withdrawn) once its deadline passed without
 * anyone reading its signal, and falls back to the signal when the caller gave no deadline.
 */
function isBackendUnavailable(pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof HeraldError, `expected a HeraldError, got ${String(error)}`);
    assert.equal(error.code, "BackendUnavailable");
    assert.match(error.message, pattern);
    return true;
  };
}

/** Ingress's options: a deadline, and a signal that must not be read while the deadline serves. */
const withDeadline = (inMs: number) => ({
  deadline: performance.now() + inMs,
  get signal(): AbortSignal {
    throw new Error("the signal was read");
  },
});

const never = () => new Promise<never>(() => undefined);

describe("publish deadlines", () => {
  it("resolves with the work when it ends in time", async () => {
    const deadlines = new PublishDeadlines("Kafka");
    assert.equal(await deadlines.race(Promise.resolve(42), withDeadline(5_000)), 42);
    deadlines.close("done");
  });

  it("rejects a late publish with BackendUnavailable and withdraws it, without reading its signal", async () => {
    const deadlines = new PublishDeadlines("Kafka");
    let withdrawn = false;
    const started = performance.now();
    await assert.rejects(
      deadlines.race(never(), withDeadline(100), () => (withdrawn = true)),
      isBackendUnavailable(/Kafka.*no acknowledgement before the publish deadline/),
    );
    assert.ok(performance.now() - started >= 95, "rejected before its deadline");
    assert.equal(withdrawn, true);
    deadlines.close("done");
  });

  it("wraps the backend's own error, and a late result changes nothing", async () => {
    const deadlines = new PublishDeadlines("Kafka");
    await assert.rejects(
      deadlines.race(Promise.reject(new Error("NOT_LEADER_FOR_PARTITION")), withDeadline(5_000)),
      isBackendUnavailable(/NOT_LEADER_FOR_PARTITION/),
    );
    let finish!: () => void;
    const late = new Promise<void>((resolve) => (finish = resolve));
    await assert.rejects(deadlines.race(late, withDeadline(50)), isBackendUnavailable(/deadline/));
    finish();
    await late;
    deadlines.close("done");
  });

  it("waits through the signal when the caller gives no deadline", async () => {
    const deadlines = new PublishDeadlines("RabbitMQ");
    const controller = new AbortController();
    const racing = deadlines.race(never(), { signal: controller.signal });
    controller.abort();
    await assert.rejects(racing, isBackendUnavailable(/RabbitMQ.*publish deadline/));
  });

  it("rejects what still waits when the adapter closes", async () => {
    const deadlines = new PublishDeadlines("Kafka");
    const waiting = deadlines.race(never(), withDeadline(60_000));
    deadlines.close("the adapter is closed");
    await assert.rejects(waiting, isBackendUnavailable(/the adapter is closed/));
  });
});
