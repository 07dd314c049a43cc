import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  backoffDelay,
  isRetryable,
  nextWait,
  parseRetryAfter,
  type DeliveryOptions,
} from "../../src/dispatcher/delivery.js";

const linear: DeliveryOptions = { retry: 5, backoffPolicy: "linear", backoffDelayMs: 100 };
const exponential: DeliveryOptions = { retry: 5, backoffPolicy: "exponential", backoffDelayMs: 100 };

describe("delivery policy", () => {
  it("computes Knative's linear and exponential backoff", () => {
    assert.deepEqual(
      [1, 2, 3].map((n) => backoffDelay(linear, n)),
      [100, 200, 300],
    );
    assert.deepEqual(
      [1, 2, 3].map((n) => backoffDelay(exponential, n)),
      [200, 400, 800],
    );
  });

  it("retries network errors, timeouts, 404, 408, 409, 429 and 5xx only", () => {
    for (const status of [undefined, 404, 408, 409, 429, 500, 502, 503, 504])
      assert.equal(isRetryable(status), true, String(status));
    for (const status of [400, 401, 403, 405, 413, 415, 422])
      assert.equal(isRetryable(status), false, String(status));
  });

  it("parses Retry-After as seconds or an HTTP date", () => {
    assert.equal(parseRetryAfter("3"), 3000);
    assert.equal(
      parseRetryAfter("Wed, 21 Oct 2015 07:28:10 GMT", Date.parse("Wed, 21 Oct 2015 07:28:00 GMT")),
      10_000,
    );
    assert.equal(parseRetryAfter("soon"), undefined);
    assert.equal(parseRetryAfter(undefined), undefined);
  });

  it("honours Retry-After on 429 and 503 only, capped by retryAfterMax, never below the backoff", () => {
    assert.equal(nextWait(linear, 1, 429, "2"), 2000);
    assert.equal(nextWait(linear, 1, 503, "2"), 2000);
    assert.equal(nextWait(linear, 1, 500, "2"), 100);
    assert.equal(nextWait({ ...linear, retryAfterMaxMs: 500 }, 1, 429, "30"), 500);
    assert.equal(nextWait({ ...linear, retryAfterMaxMs: 50 }, 3, 429, "30"), 300);
  });
});

describe("delivery waits stay within the timer range", () => {
  const longest = 2 ** 31 - 1;

  it("caps a linear or exponential backoff at 2^31 - 1 ms instead of letting the timer fire at once", () => {
    const thirtyDays = 30 * 24 * 3600 * 1000;
    assert.equal(backoffDelay({ ...linear, backoffDelayMs: thirtyDays }, 1), longest);
    assert.equal(backoffDelay({ ...exponential, backoffDelayMs: 200 }, 24), longest);
    assert.equal(backoffDelay({ ...exponential, backoffDelayMs: 200 }, 1000), longest);
    assert.equal(backoffDelay({ ...exponential, backoffDelayMs: 200 }, 23), 200 * 2 ** 23);
  });

  it("caps Retry-After at 10 minutes when retryAfterMax is unset", () => {
    assert.equal(nextWait(linear, 1, 503, "99999999"), 10 * 60 * 1000);
    assert.equal(nextWait(linear, 1, 429, "9".repeat(400)), 10 * 60 * 1000);
    assert.equal(nextWait(linear, 1, 503, "Fri, 31 Dec 9999 23:59:59 GMT"), 10 * 60 * 1000);
    assert.equal(nextWait(linear, 1, 503, "300"), 300_000);
  });

  it("lets retryAfterMax raise the cap, up to 2^31 - 1 ms", () => {
    assert.equal(nextWait({ ...linear, retryAfterMaxMs: 3_600_000 }, 1, 503, "1800"), 1_800_000);
    assert.equal(nextWait({ ...linear, retryAfterMaxMs: 2 ** 40 }, 1, 503, "99999999"), longest);
  });
});
