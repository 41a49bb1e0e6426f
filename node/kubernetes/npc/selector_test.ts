import assert from "node:assert/strict";
import type { LabelSelector } from "./objects.ts";
import { cidrContains, parseCidr, selects } from "./selector.ts";

const sel = (s: Partial<LabelSelector>): LabelSelector => ({
  matchLabels: {},
  matchExpressions: [],
  ...s,
});

Deno.test("the empty selector selects everything", () => {
  assert.ok(selects(sel({}), {}));
  assert.ok(selects(sel({}), { a: "b" }));
});

Deno.test("matchLabels needs every pair", () => {
  const s = sel({ matchLabels: { app: "web", tier: "front" } });
  assert.ok(selects(s, { app: "web", tier: "front", x: "y" }));
  assert.ok(!selects(s, { app: "web" }));
  assert.ok(!selects(s, { app: "web", tier: "back" }));
});

Deno.test("matchExpressions: In, NotIn (true for an absent key), Exists, DoesNotExist", () => {
  const ex = (operator: LabelSelector["matchExpressions"][0]["operator"], values: string[] = []) =>
    sel({ matchExpressions: [{ key: "k", operator, values }] });
  assert.ok(selects(ex("In", ["a", "b"]), { k: "b" }));
  assert.ok(!selects(ex("In", ["a", "b"]), { k: "c" }));
  assert.ok(!selects(ex("In", ["a"]), {}));
  assert.ok(selects(ex("NotIn", ["a"]), { k: "c" }));
  assert.ok(selects(ex("NotIn", ["a"]), {}));
  assert.ok(!selects(ex("NotIn", ["a"]), { k: "a" }));
  assert.ok(selects(ex("Exists"), { k: "" }));
  assert.ok(!selects(ex("Exists"), {}));
  assert.ok(selects(ex("DoesNotExist"), {}));
  assert.ok(!selects(ex("DoesNotExist"), { k: "x" }));
});

Deno.test("matchLabels and matchExpressions are ANDed", () => {
  const s = sel({
    matchLabels: { app: "web" },
    matchExpressions: [{ key: "env", operator: "In", values: ["prod"] }],
  });
  assert.ok(selects(s, { app: "web", env: "prod" }));
  assert.ok(!selects(s, { app: "web", env: "dev" }));
  assert.ok(!selects(s, { app: "db", env: "prod" }));
});

Deno.test("CIDR containment, host bits ignored, non-IPv4 rejected", () => {
  const c = parseCidr("10.1.60.7/16")!;
  assert.ok(cidrContains(c, "10.1.0.1"));
  assert.ok(cidrContains(c, "10.1.255.255"));
  assert.ok(!cidrContains(c, "10.2.0.0"));
  assert.ok(cidrContains(parseCidr("0.0.0.0/0")!, "255.255.255.255"));
  assert.ok(cidrContains(parseCidr("1.2.3.4/32")!, "1.2.3.4"));
  assert.ok(!cidrContains(parseCidr("1.2.3.4/32")!, "1.2.3.5"));
  assert.equal(parseCidr("fd00::/8"), undefined);
  assert.equal(parseCidr("10.0.0.0/33"), undefined);
  assert.equal(parseCidr("300.0.0.0/8"), undefined);
});
