import assert from "node:assert/strict";
import { BIN } from "../paths.ts";
import { NODE_RUNSC_PATHS, renderRunscConfig, RUNSC_FLAGS } from "./config.ts";

Deno.test("runsc shim config: binary, root and every flag, in TOML the shim reads", () => {
  const toml = renderRunscConfig(NODE_RUNSC_PATHS);
  assert.equal(NODE_RUNSC_PATHS.runsc, BIN.runsc);
  assert.match(toml, /^binary_name = "\/containerd\/bin\/runsc"$/m);
  assert.match(toml, /^root = "\/ephemeral\/containerd\/runsc"$/m);
  // The flags are a table after the top-level keys (TOML assigns later keys to the table).
  const table = toml.slice(toml.indexOf("[runsc_config]\n"));
  assert.ok(toml.indexOf("[runsc_config]") > toml.indexOf("root ="));
  assert.ok(Object.keys(RUNSC_FLAGS).length > 0);
  for (const [k, v] of Object.entries(RUNSC_FLAGS)) {
    assert.ok(table.includes(`  ${k} = ${JSON.stringify(v)}\n`), k);
  }
  assert.equal(RUNSC_FLAGS.platform, "systrap");
});

Deno.test("runsc shim config: rejects relative paths and bad flag names", () => {
  assert.throws(
    () => renderRunscConfig({ ...NODE_RUNSC_PATHS, root: "runsc" }),
    /path root must be absolute/,
  );
  assert.throws(() => renderRunscConfig(NODE_RUNSC_PATHS, { "a b": "x" }), /bad flag name/);
});
