import assert from "node:assert/strict";
import { relativeImports, RULES } from "./lint_layers.ts";

function violations(from: string, target: string): string[] {
  return RULES.filter((r) => r.from(from) && r.deny(target) && !r.allow?.(target, from)).map((r) =>
    r.why
  );
}

Deno.test("relativeImports resolves static, re-export, side-effect and dynamic imports", () => {
  const src = `import { a } from "../core/x.ts";\nexport * from "./y.ts";\nimport "./z.ts";\n` +
    `const m = await import("../../metroctl/main.ts");\nimport npm from "npm:zod";`;
  assert.deepEqual(relativeImports("node/base/f.ts", src), [
    "node/core/x.ts",
    "node/base/y.ts",
    "node/base/z.ts",
    "metroctl/main.ts",
  ]);
});

Deno.test("layer rules: base may not reach into core, metroctl only into identity/rpc", () => {
  assert.equal(violations("node/base/supervisor/s.ts", "node/core/rpc/x.ts").length, 1);
  assert.equal(violations("node/base/supervisor/s.ts", "node/base/logtree/x.ts").length, 0);
  assert.equal(violations("metroctl/main.ts", "node/core/rpc/dial.ts").length, 0);
  assert.equal(violations("metroctl/main.ts", "node/core/curator/x.ts").length, 1);
  assert.equal(violations("node/core/curator/x.ts", "node/kubernetes/a.ts").length, 1);
  assert.equal(violations("node/core/roleserve/k.ts", "node/kubernetes/a.ts").length, 0);
  assert.equal(violations("proto/grpc.ts", "node/base/x.ts").length, 1);
  assert.equal(violations("node/main.ts", "e2e/launch/x.ts").length, 1);
});
