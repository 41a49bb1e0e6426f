import assert from "node:assert/strict";
import { RUNTIME_BINARY_NAMES } from "../../node/kubernetes/containerd/build.ts";
import { BIN, PRESEED_DIR } from "../../node/kubernetes/paths.ts";
import { DEBIAN_PAYLOADS, USR_PAYLOADS } from "../../node/kubernetes/payloads.ts";
import { payloadSteps } from "./payloads.ts";

Deno.test("payloads: built files are linked, Debian binaries symlinked, at image paths", () => {
  const steps = payloadSteps("/s/payloads", {
    kube: "/cache/kube",
    runtime: Object.fromEntries(RUNTIME_BINARY_NAMES.map((n) => [n, `/cache/${n}`])),
    archives: { pause: "/c/p.tar", busybox: "/c/b.tar" },
    gvisor: { runsc: "/cache/runsc", shim: "/cache/shim" },
  });
  assert.deepEqual(steps[0], { op: "link", path: `/s/payloads${BIN.kube}`, from: "/cache/kube" });
  const built = [
    [BIN.runsc, "/cache/runsc"],
    [BIN.runscShim, "/cache/shim"],
    [BIN.containerd, "/cache/containerd"],
    [BIN.runc, "/cache/runc"],
  ];
  for (const [node, from] of built) {
    assert.ok(
      steps.some((s) => s.op === "link" && s.path === `/s/payloads${node}` && s.from === from),
    );
  }
  for (const [node, deb] of Object.entries(DEBIAN_PAYLOADS)) {
    assert.ok(
      steps.some((s) => s.op === "symlink" && s.path === `/s/payloads${node}` && s.to === deb.host),
    );
  }
  // /usr tools come from the host's /usr bind, not from the payload directory.
  for (const node of Object.keys(USR_PAYLOADS)) {
    assert.ok(!steps.some((s) => s.path.endsWith(node)));
  }
  const archives = steps.filter((s) => s.path.startsWith(`/s/payloads${PRESEED_DIR}/`));
  assert.deepEqual(archives.map((s) => s.path.split("/").pop()), ["busybox.tar", "pause.tar"]);
  assert.ok(steps.every((s) => s.path.startsWith("/s/payloads/")));
});

Deno.test("payloads: every Debian payload the plan names exists on this host", async () => {
  for (const deb of [...Object.values(DEBIAN_PAYLOADS), ...Object.values(USR_PAYLOADS)]) {
    await Deno.stat(deb.host); // throws NotFound naming the path when .ci/setup missed a package
  }
});
