import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { audienceOf, subjectOf } from "../../src/auth/identity.js";
import type { CloudEvent } from "../../src/events/event.js";
import { compileTriggerFilter } from "../../src/filters/trigger-filter.js";
import { authorize, type AddressPolicy, type CompiledPolicy } from "../../src/ingress/authorization.js";
import { eventPolicySpecSchema, matchesLabels } from "../../src/resources/policy.js";

function event(type: string, id = type): CloudEvent {
  return { attributes: { specversion: "1.0", id, type, source: "/test" } };
}

function policy(name: string, subjects: string[], filters?: Record<string, unknown>[]): CompiledPolicy {
  return { name, subjects, filter: compileTriggerFilter({ filters }) };
}

function address(
  policies: CompiledPolicy[],
  defaultMode: AddressPolicy["defaultMode"] = "allow-same-namespace",
) {
  return { audience: "eventing.knative.dev/broker/shop/orders", namespace: "shop", policies, defaultMode };
}

const refused = (run: () => void, pattern: RegExp) =>
  assert.throws(
    run,
    (error: Error & { code?: string }) => error.code === "Forbidden" && pattern.test(error.message),
  );

describe("Knative's names for audiences and sender identities", () => {
  it("names an audience <group>/<kind>/<namespace>/<name> in lowercase", () => {
    assert.equal(
      audienceOf("eventing.knative.dev", "Broker", "default", "orders"),
      "eventing.knative.dev/broker/default/orders",
    );
    assert.equal(
      audienceOf("messaging.knative.dev", "InMemoryChannel", "Team-A", "Audit"),
      "messaging.knative.dev/inmemorychannel/team-a/audit",
    );
  });

  it("names a sender system:serviceaccount:<namespace>:<name>-oidc-<group>-<kind>", () => {
    assert.equal(
      subjectOf("eventing.knative.dev", "Trigger", "default", "enrich"),
      "system:serviceaccount:default:enrich-oidc-eventing.knative.dev-trigger",
    );
    assert.equal(
      subjectOf("sources.knative.dev", "PingSource", "ops", "Ticker"),
      "system:serviceaccount:ops:ticker-oidc-sources.knative.dev-pingsource",
    );
  });
});

describe("ingress authorization by EventPolicy", () => {
  it("without policies, follows the default mode", () => {
    authorize(address([], "allow-all"), "anyone", [event("a")]);
    authorize(address([]), "system:serviceaccount:shop:checkout", [event("a")]);
    refused(
      () => authorize(address([]), "system:serviceaccount:other:checkout", [event("a")]),
      /allow-same-namespace/,
    );
    // A namespace whose name prefixes another's is not the same namespace.
    refused(
      () => authorize(address([]), "system:serviceaccount:shopping:x", [event("a")]),
      /not a service account/,
    );
    refused(() => authorize(address([]), "https://ci.example", [event("a")]), /allow-same-namespace/);
    refused(
      () => authorize(address([], "deny-all"), "system:serviceaccount:shop:checkout", [event("a")]),
      /deny-all/,
    );
  });

  it("with policies, the default mode no longer applies: only the subjects they name", () => {
    const policies = [policy("checkout", ["system:serviceaccount:other:checkout"])];
    authorize(address(policies), "system:serviceaccount:other:checkout", [event("a")]);
    authorize(address(policies), "SYSTEM:SERVICEACCOUNT:OTHER:CHECKOUT", [event("a")]);
    refused(
      () => authorize(address(policies), "system:serviceaccount:shop:checkout", [event("a")]),
      /checkout/,
    );
  });

  it("matches a trailing * as a prefix, and a * elsewhere literally", () => {
    const policies = [policy("ci", ["https://ci.example/*", "a*b"])];
    authorize(address(policies), "https://ci.example/pipelines/1", [event("a")]);
    authorize(address(policies), "https://ci.example/", [event("a")]);
    refused(() => authorize(address(policies), "https://ci.example", [event("a")]), /not allowed/);
    refused(() => authorize(address(policies), "axxb", [event("a")]), /not allowed/);
  });

  it("needs every event of a batch to pass the filters of a policy naming the subject", () => {
    const policies = [
      policy("orders", ["system:serviceaccount:shop:*"], [{ prefix: { type: "order." } }]),
      policy("refunds", ["system:serviceaccount:shop:refunds"], [{ cesql: "type = 'refund.created'" }]),
    ];
    const target = address(policies);
    authorize(target, "system:serviceaccount:shop:checkout", [event("order.created"), event("order.paid")]);
    refused(
      () =>
        authorize(target, "system:serviceaccount:shop:checkout", [
          event("order.created"),
          event("refund.created", "r1"),
        ]),
      /event r1 does not pass the filters/,
    );
    // The refunds policy allows its own subject's refunds; the orders policy its orders.
    authorize(target, "system:serviceaccount:shop:refunds", [
      event("refund.created"),
      event("order.created"),
    ]);
  });

  it("a policy with no subjects allows nobody", () => {
    refused(
      () => authorize(address([policy("empty", [])]), "system:serviceaccount:shop:a", [event("a")]),
      /empty/,
    );
  });
});

describe("EventPolicy spec", () => {
  it("selects by matchLabels and matchExpressions as Kubernetes does", () => {
    const labels = { team: "shop", tier: "gold" };
    assert.ok(matchesLabels({}, labels));
    assert.ok(matchesLabels({ matchLabels: { team: "shop" } }, labels));
    assert.ok(!matchesLabels({ matchLabels: { team: "ops" } }, labels));
    assert.ok(
      matchesLabels(
        { matchExpressions: [{ key: "tier", operator: "In", values: ["gold", "silver"] }] },
        labels,
      ),
    );
    assert.ok(
      !matchesLabels({ matchExpressions: [{ key: "tier", operator: "NotIn", values: ["gold"] }] }, labels),
    );
    assert.ok(
      matchesLabels({ matchExpressions: [{ key: "zone", operator: "NotIn", values: ["a"] }] }, labels),
    );
    assert.ok(matchesLabels({ matchExpressions: [{ key: "team", operator: "Exists" }] }, labels));
    assert.ok(!matchesLabels({ matchExpressions: [{ key: "team", operator: "DoesNotExist" }] }, labels));
    assert.ok(!matchesLabels({ matchLabels: { constructor: "x" } }, {}), "no prototype lookups");
  });

  it("names each problem of an invalid spec by its path", () => {
    const result = eventPolicySpecSchema.safeParse({
      to: [
        { ref: { apiVersion: "eventing.knative.dev/v1", kind: "Broker" } },
        { selector: { kind: "Broker" } },
      ],
      from: [{ sub: "*x" }, {}],
      extra: true,
    });
    assert.ok(!result.success);
    const paths = result.error.issues.map((issue) => issue.path.join("."));
    for (const path of ["to.0.ref.name", "to.1.selector.apiVersion", "from.0.sub", "from.1", ""])
      assert.ok(paths.includes(path), `${path} in ${paths.join(", ")}`);
    assert.ok(
      eventPolicySpecSchema
        .safeParse({
          from: [{ sub: "system:serviceaccount:a:*" }],
          to: [
            {
              selector: {
                apiVersion: "v1",
                kind: "Broker",
                matchExpressions: [{ key: "k", operator: "In" }],
              },
            },
          ],
        })
        .error?.issues.some((issue) => issue.path.join(".") === "to.0.selector.matchExpressions.0.values"),
    );
  });
});
