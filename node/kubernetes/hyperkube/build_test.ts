import assert from "node:assert/strict";
import { kubeVersion } from "./build.ts";

Deno.test("kubeVersion: reads the pin from go.mod in both require forms", async () => {
  const goMod = await Deno.readTextFile(new URL("./go.mod", import.meta.url));
  assert.match(kubeVersion(goMod), /^v1\.32\.\d+$/);
  assert.equal(kubeVersion("module x\nrequire k8s.io/kubernetes v1.32.9\n"), "v1.32.9");
  assert.equal(kubeVersion("require (\n\tk8s.io/kubernetes v1.33.1\n)\n"), "v1.33.1");
  assert.throws(() => kubeVersion("module x\n"), /lacks a `k8s.io\/kubernetes/);
});
