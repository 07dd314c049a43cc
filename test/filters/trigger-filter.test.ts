import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CloudEvent } from "../../src/events/event.js";
import { compileTriggerFilter, validateTriggerFilter } from "../../src/filters/trigger-filter.js";

const event = (attributes: Record<string, string | number | boolean>): CloudEvent => ({
  attributes: {
    specversion: "1.0",
    id: "1",
    source: "/shop/orders",
    type: "com.shop.order.created",
    ...attributes,
  },
});
const order = event({ tenant: "acme", amount: "250" });

describe("Trigger filter (Knative filter.attributes)", () => {
  it("matches attributes exactly, an empty value matching any value", () => {
    assert.equal(
      compileTriggerFilter({ filter: { attributes: { type: "com.shop.order.created", tenant: "acme" } } })(
        order,
      ),
      true,
    );
    assert.equal(
      compileTriggerFilter({ filter: { attributes: { type: "com.shop.order.created", tenant: "other" } } })(
        order,
      ),
      false,
    );
    assert.equal(compileTriggerFilter({ filter: { attributes: { tenant: "" } } })(order), true);
    assert.equal(compileTriggerFilter({ filter: { attributes: { region: "eu" } } })(order), false);
  });

  it("matches everything without a filter", () => {
    assert.equal(compileTriggerFilter({})(order), true);
    assert.equal(compileTriggerFilter({ filters: [] })(order), true);
  });
});

describe("Trigger filters (Knative SubscriptionsAPIFilter dialects)", () => {
  const matches = (filters: Record<string, unknown>[], on = order) => compileTriggerFilter({ filters })(on);

  it("exact, prefix and suffix, with several attributes ANDed", () => {
    assert.equal(matches([{ exact: { type: "com.shop.order.created" } }]), true);
    assert.equal(matches([{ exact: { type: "com.shop.order" } }]), false);
    assert.equal(matches([{ prefix: { type: "com.shop.", source: "/shop" } }]), true);
    assert.equal(matches([{ prefix: { type: "com.shop.", source: "/bank" } }]), false);
    assert.equal(matches([{ suffix: { type: ".created" } }]), true);
    assert.equal(matches([{ suffix: { type: ".deleted" } }]), false);
    assert.equal(matches([{ exact: { missing: "x" } }]), false);
  });

  it("all, any and not, nested", () => {
    assert.equal(matches([{ all: [{ prefix: { type: "com.shop" } }, { exact: { tenant: "acme" } }] }]), true);
    assert.equal(
      matches([{ all: [{ prefix: { type: "com.shop" } }, { exact: { tenant: "zeta" } }] }]),
      false,
    );
    assert.equal(matches([{ any: [{ exact: { tenant: "zeta" } }, { suffix: { type: "created" } }] }]), true);
    assert.equal(matches([{ any: [{ exact: { tenant: "zeta" } }, { suffix: { type: "deleted" } }] }]), false);
    assert.equal(matches([{ not: { exact: { tenant: "acme" } } }]), false);
    assert.equal(
      matches([{ not: { any: [{ exact: { tenant: "zeta" } }, { not: { prefix: { type: "com." } } }] } }]),
      true,
    );
  });

  it("every entry of filters must match", () => {
    assert.equal(matches([{ prefix: { type: "com.shop" } }, { exact: { tenant: "acme" } }]), true);
    assert.equal(matches([{ prefix: { type: "com.shop" } }, { exact: { tenant: "zeta" } }]), false);
  });

  it("cesql with implicit casting; an evaluation error does not match", () => {
    assert.equal(matches([{ cesql: "type LIKE 'com.shop.%' AND amount > 100" }]), true);
    assert.equal(matches([{ cesql: "amount > 1000" }]), false);
    assert.equal(matches([{ cesql: "missing = 'x' OR TRUE" }]), false);
    assert.equal(matches([{ cesql: "1 / 0 = 0" }]), false);
  });

  it("ignores filter.attributes when filters is set, as Knative does", () => {
    const filter = compileTriggerFilter({
      filter: { attributes: { tenant: "zeta" } },
      filters: [{ exact: { tenant: "acme" } }],
    });
    assert.equal(filter(order), true);
  });
});

describe("Trigger filter validation", () => {
  it("reports CESQL parse errors with the path and position", () => {
    const problems = validateTriggerFilter({ filters: [{ exact: { type: "a" } }, { cesql: "type = " }] });
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.path, "spec.filters[1].cesql");
    assert.match(problems[0]!.message, /position 7/);
  });

  it("reports dialect objects with zero, several or unknown dialects, and bad attribute names", () => {
    const problems = validateTriggerFilter({
      filters: [
        {},
        { exact: { a: "1" }, prefix: { b: "2" } },
        { regex: { type: ".*" } },
        { all: [{ exact: { "Bad-Name": "x" } }] },
        { exact: {} },
      ],
      filter: { attributes: { "Type!": "x" } },
    });
    const paths = problems.map((p) => p.path);
    assert.deepEqual(paths.sort(), [
      "spec.filter.attributes.Type!",
      "spec.filters[0]",
      "spec.filters[1]",
      "spec.filters[2].regex",
      "spec.filters[3].all[0].exact.Bad-Name",
      "spec.filters[4].exact",
    ]);
  });

  it("accepts valid nested filters", () => {
    assert.deepEqual(
      validateTriggerFilter({
        filters: [{ not: { any: [{ cesql: "EXISTS subject" }, { suffix: { type: "x" } }] } }],
      }),
      [],
    );
  });
});

describe("Trigger filters read only the event's own attributes", () => {
  const names = ["constructor", "tostring", "valueof", "hasownproperty", "isprototypeof", "proto"];

  it("CESQL: inherited names are missing attributes, not matches, and never throw", () => {
    for (const name of names) {
      assert.equal(compileTriggerFilter({ filters: [{ cesql: `EXISTS ${name}` }] })(order), false, name);
      assert.equal(compileTriggerFilter({ filters: [{ cesql: `INT(${name}) = 0` }] })(order), false, name);
      assert.equal(compileTriggerFilter({ filters: [{ cesql: `${name} LIKE '%'` }] })(order), false, name);
      assert.equal(compileTriggerFilter({ filters: [{ cesql: `NOT EXISTS ${name}` }] })(order), true, name);
    }
  });

  it("CESQL: an own attribute of that name is read as any other", () => {
    const withConstructor = event({ constructor: "5" });
    assert.equal(
      compileTriggerFilter({ filters: [{ cesql: "INT(constructor) = 5" }] })(withConstructor),
      true,
    );
  });

  it("exact, prefix, suffix and filter.attributes: inherited names match nothing", () => {
    for (const dialect of ["exact", "prefix", "suffix"]) {
      assert.equal(
        compileTriggerFilter({ filters: [{ [dialect]: { constructor: "function" } }] })(order),
        false,
        dialect,
      );
      assert.equal(compileTriggerFilter({ filters: [{ [dialect]: { constructor: "" } }] })(order), false);
      assert.equal(compileTriggerFilter({ filters: [{ [dialect]: { toString: "" } }] })(order), false);
      const proto = JSON.parse('{"__proto__": ""}') as Record<string, string>;
      assert.equal(compileTriggerFilter({ filters: [{ [dialect]: proto }] })(order), false);
    }
    assert.equal(
      compileTriggerFilter({
        filter: { attributes: { constructor: "function Object() { [native code] }" } },
      })(order),
      false,
    );
  });

  it("an exception while evaluating a CESQL filter is no match for that filter, not a failure", () => {
    // An attribute value no binding produces (a function), standing for any fault inside evaluation.
    const odd = { attributes: { ...order.attributes, amount: (() => 1) as unknown as string } };
    const filter = compileTriggerFilter({ filters: [{ cesql: "INT(amount) = 0" }] });
    assert.doesNotThrow(() => filter(odd));
    assert.equal(filter(odd), false);
    assert.equal(compileTriggerFilter({ filters: [{ not: { cesql: "INT(amount) = 0" } }] })(odd), true);
  });
});
