/**
 * The `kube` multicall binary (tier 2, builds or reuses the cached binary): every applet answers
 * `--help`, the kubelet reports the pinned version, an unknown applet is a usage error. The
 * Kubernetes roles themselves are exercised by kubernetes_ns_test.ts on a launched cluster.
 */
import assert from "node:assert/strict";
import { buildKube } from "../../../node/kubernetes/hyperkube/build.ts";

const APPLETS = [
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kubelet",
  "kube-proxy",
  "kubectl",
];

async function runKube(kube: string, args: string[]) {
  return await new Deno.Command(kube, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
}

Deno.test("kube binary: every applet answers --help, the pinned version, unknown applets refused", async () => {
  const kube = await buildKube();
  const v = await runKube(kube, ["kubelet", "--version"]);
  assert.ok(v.success, "kube kubelet --version must exit 0");
  assert.match(new TextDecoder().decode(v.stdout), /^Kubernetes v1\.32\.\d+\s*$/);
  const c = await runKube(kube, ["kubectl", "version", "--client", "-o", "json"]);
  assert.ok(c.success, "kube kubectl version --client must exit 0");
  assert.match(
    JSON.parse(new TextDecoder().decode(c.stdout)).clientVersion.gitVersion,
    /^v1\.32\./,
  );
  for (const a of APPLETS) {
    const r = await runKube(kube, [a, "--help"]);
    assert.ok(r.success, `kube ${a} --help must exit 0`);
  }
  const bad = await runKube(kube, ["kube-nonsense"]);
  assert.equal(bad.code, 2);
  assert.match(new TextDecoder().decode(bad.stderr), /unknown applet "kube-nonsense"/);
});
