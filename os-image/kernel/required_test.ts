import assert from "node:assert/strict";
import { checkConfig, REQUIRED_OPTIONS } from "./required.ts";

const full = REQUIRED_OPTIONS.map((o) => `CONFIG_${o}=y`).join("\n") +
  '\nCONFIG_LSM="landlock,lockdown,yama"\n# CONFIG_MODULES is not set\n';

Deno.test("checkConfig accepts a config with every required option", () => {
  assert.deepEqual(checkConfig(full), []);
});

Deno.test("checkConfig names a missing, modular or wrong option", () => {
  const text = full.replace("CONFIG_DM_VERITY=y", "# CONFIG_DM_VERITY is not set")
    .replace("CONFIG_WIREGUARD=y", "CONFIG_WIREGUARD=m") + "CONFIG_MODULES=y\n";
  assert.deepEqual(checkConfig(text), [
    "CONFIG_DM_VERITY must be =y, is unset",
    "CONFIG_WIREGUARD must be =y, is m",
    "CONFIG_MODULES must be unset (no modules)",
  ]);
});

Deno.test("config.fragment sets every required option", async () => {
  const frag = await Deno.readTextFile(new URL("./config.fragment", import.meta.url));
  for (const o of REQUIRED_OPTIONS) assert.match(frag, new RegExp(`^CONFIG_${o}=y$`, "m"), o);
  assert.match(frag, /^# CONFIG_MODULES is not set$/m);
});
