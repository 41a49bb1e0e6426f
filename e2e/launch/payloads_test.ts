import assert from "node:assert/strict";
import { BIN, PRESEED_DIR } from "../../node/kubernetes/paths.ts";
import { DEBIAN_PAYLOADS, payloadPlan } from "./payloads.ts";

Deno.test("payloads: kube and archives are linked, Debian binaries symlinked, at image paths", () => {
  const steps = payloadPlan("/s/payloads", "/cache/kube", {
    pause: "/c/p.tar",
    busybox: "/c/b.tar",
  });
  assert.deepEqual(steps[0], { op: "link", path: `/s/payloads${BIN.kube}`, from: "/cache/kube" });
  for (const [node, host] of Object.entries(DEBIAN_PAYLOADS)) {
    assert.ok(
      steps.some((s) => s.op === "symlink" && s.path === `/s/payloads${node}` && s.to === host),
    );
  }
  const archives = steps.filter((s) => s.path.startsWith(`/s/payloads${PRESEED_DIR}/`));
  assert.deepEqual(archives.map((s) => s.path.split("/").pop()), ["busybox.tar", "pause.tar"]);
  assert.ok(steps.every((s) => s.path.startsWith("/s/payloads/")));
});

Deno.test("payloads: every Debian payload the plan names exists on this host", async () => {
  for (const host of Object.values(DEBIAN_PAYLOADS)) {
    await Deno.stat(host); // throws NotFound naming the path when .ci/setup missed a package
  }
});
