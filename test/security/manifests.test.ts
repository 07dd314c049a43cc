import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { InProcessHerald } from "../support/herald.js";

/** A billion-laughs ConfigMap: nine levels of nine aliases each. */
function aliasBomb(): string {
  let data = "  a: &a [x, x, x, x, x, x, x, x, x]\n";
  for (let level = 1; level < 9; level++) {
    const name = String.fromCharCode(97 + level);
    data += `  ${name}: &${name} [${Array(9)
      .fill(`*${String.fromCharCode(96 + level)}`)
      .join(", ")}]\n`;
  }
  return `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: bomb }\ndata:\n${data}`;
}

describe("manifests that attack the resource API", () => {
  let herald: InProcessHerald;
  before(async () => {
    herald = await InProcessHerald.start();
  });
  after(() => herald.close());

  it("answers a YAML alias bomb on /apply with 422 naming the alias limit, and keeps serving", async () => {
    const text = await herald.applyRejected(aliasBomb());
    assert.match(text, /InvalidResource/);
    assert.match(text, /alias/i);
    await herald.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: { name: after-bomb }\ndata: { a: b }\n");
    assert.equal((await herald.get("/api/v1/namespaces/default/configmaps/after-bomb")).status, 200);
  });
});
