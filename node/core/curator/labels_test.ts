import assert from "node:assert/strict";
import {
  applyLabelUpdate,
  type Label,
  LabelError,
  labelKeyProblem,
  labelValueProblem,
  MAX_LABELS,
  sanitizeRegisterLabels,
} from "./labels.ts";

const l = (key: string, value = "v"): Label => ({ key, value });
const many = (n: number, prefix = "k") =>
  Array.from({ length: n }, (_, i) => l(`${prefix}${String(i).padStart(3, "0")}`));

function throwsLabel(f: () => unknown, kind: LabelError["kind"], match: RegExp) {
  assert.throws(f, (e) => {
    assert.ok(e instanceof LabelError, `expected LabelError, got ${e}`);
    assert.equal(e.kind, kind);
    assert.match(e.message, match);
    assert.ok(!e.message.includes("\n"), "one-line message");
    return true;
  });
}

Deno.test("label keys: valid forms", () => {
  for (
    const k of [
      "a",
      "Z",
      "9",
      "app",
      "my.label_name-1",
      "x".repeat(63),
      "example.com/name",
      "a.b-c.d/Name.2",
      `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}/n`, // 253 prefix
    ]
  ) {
    assert.equal(labelKeyProblem(k), undefined, k);
  }
});

Deno.test("label keys: invalid forms name the problem", () => {
  const cases: [string, RegExp][] = [
    ["", /empty name/],
    ["x".repeat(64), /longer than 63/],
    ["-a", /starting and ending alphanumeric/],
    ["a-", /starting and ending alphanumeric/],
    [".a", /starting and ending alphanumeric/],
    ["a b", /starting and ending alphanumeric/],
    ["ä", /starting and ending alphanumeric/],
    ["/name", /empty prefix/],
    ["example.com/", /empty name/],
    ["a/b/c", /more than one/],
    ["Example.com/name", /lowercase DNS subdomain/],
    ["ex_ample.com/name", /lowercase DNS subdomain/],
    ["-ex.com/name", /lowercase DNS subdomain/],
    ["ex..com/name", /lowercase DNS subdomain/],
    [`${"a".repeat(254)}/n`, /prefix longer than 253/],
  ];
  for (const [k, re] of cases) assert.match(labelKeyProblem(k) ?? "(valid)", re, k);
});

Deno.test("label values: empty allowed, same charset as names", () => {
  for (const v of ["", "a", "1.2.3", "v_1-x", "x".repeat(63)]) {
    assert.equal(labelValueProblem(v), undefined, v);
  }
  for (const v of ["x".repeat(64), "-a", "a.", "a/b", "a b"]) {
    assert.notEqual(labelValueProblem(v), undefined, v);
  }
});

Deno.test("applyLabelUpdate: upsert, overwrite, delete, sorted result", () => {
  const cur = [l("zeta", "1"), l("alpha", "2"), l("mid", "3")];
  const out = applyLabelUpdate(cur, [l("mid", "new"), l("beta", "")], ["zeta", "absent"]);
  assert.deepEqual(out, [l("alpha", "2"), l("beta", ""), l("mid", "new")]);
  // The input is untouched.
  assert.deepEqual(cur, [l("zeta", "1"), l("alpha", "2"), l("mid", "3")]);
  // Nothing to do: same labels, sorted.
  assert.deepEqual(applyLabelUpdate(cur, [], []), [l("alpha", "2"), l("mid", "3"), l("zeta", "1")]);
  assert.deepEqual(applyLabelUpdate([], [], ["gone"]), []);
});

Deno.test("applyLabelUpdate: invalid requests", () => {
  throwsLabel(() => applyLabelUpdate([], [l("-bad")], []), "invalid", /upsert: .*-bad/);
  throwsLabel(() => applyLabelUpdate([], [l("ok", "bad value")], []), "invalid", /label value/);
  throwsLabel(() => applyLabelUpdate([], [l("a"), l("a", "w")], []), "invalid", /given twice/);
  throwsLabel(() => applyLabelUpdate([], [], ["a", "a"]), "invalid", /delete: .*given twice/);
  throwsLabel(() => applyLabelUpdate([], [l("a")], ["a"]), "invalid", /both upserted and deleted/);
  throwsLabel(() => applyLabelUpdate([], [], ["a/b/c"]), "invalid", /delete: .*more than one/);
});

Deno.test("applyLabelUpdate: at most 128 labels after the change", () => {
  const full = many(MAX_LABELS);
  assert.equal(applyLabelUpdate([], full, []).length, 128);
  // Overwriting an existing key at the limit is fine; a new key is one too many.
  assert.equal(applyLabelUpdate(full, [l("k000", "x")], []).length, 128);
  throwsLabel(() => applyLabelUpdate(full, [l("extra")], []), "too_many", /at most 128.*129/);
  // Deleting one in the same request makes room.
  assert.equal(applyLabelUpdate(full, [l("extra")], ["k127"]).length, 128);
  // A stored set already over the limit is refused even for a no-op update.
  throwsLabel(() => applyLabelUpdate(many(130), [], []), "too_many", /130/);
});

Deno.test("sanitizeRegisterLabels: skips invalid, last value wins, truncates at 128, sorted", () => {
  const out = sanitizeRegisterLabels([
    l("b", "1"),
    l("-bad", "x"),
    l("a", "bad value"),
    l("a", "2"),
    l("b", "3"),
  ]);
  assert.deepEqual(out, [l("a", "2"), l("b", "3")]);
  const big = sanitizeRegisterLabels([...many(130, "z"), l("a", "late")]);
  assert.equal(big.length, 128);
  // The first 128 distinct keys in request order are kept.
  assert.equal(big[0].key, "z000");
  assert.equal(big[127].key, "z127");
  assert.ok(!big.some((x) => x.key === "a"));
  assert.deepEqual(sanitizeRegisterLabels([]), []);
});
