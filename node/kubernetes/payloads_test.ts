import assert from "node:assert/strict";
import { NODE_PATHS, renderCniTemplate } from "./containerd/config.ts";
import { BIN, PRESEED_DIR } from "./paths.ts";
import { RUNTIME_BINARY_NAMES } from "./containerd/build.ts";
import { CNI_PLUGINS, DEBIAN_PAYLOADS, payloadPlan, USR_PAYLOADS } from "./payloads.ts";

const RUNTIME = Object.fromEntries(RUNTIME_BINARY_NAMES.map((n) => [n, `/cache/${n}`]));
const INPUTS = {
  kube: "/cache/kube",
  runtime: RUNTIME,
  archives: { pause: "/c/p.tar", busybox: "/c/b.tar" },
};

Deno.test("payload plan: kube, containerd, runc, CNI, nft, mount and archives at the paths.ts paths", () => {
  const plan = payloadPlan(INPUTS);
  const paths = plan.map((p) => p.path);
  assert.deepEqual(plan[0], { path: BIN.kube, source: "build", from: "/cache/kube", mode: 0o755 });
  for (
    const p of [
      BIN.containerd,
      BIN.ctr,
      BIN.runc,
      `${BIN.nftDir}/nft`,
      `${BIN.mountDir}/mount`,
      `${BIN.mountDir}/umount`,
    ]
  ) {
    assert.ok(paths.includes(p), p);
  }
  assert.ok(paths.includes(`${BIN.containerd}-shim-runc-v2`));
  assert.deepEqual(
    paths.filter((p) => p.startsWith(`${BIN.cniDir}/`)),
    CNI_PLUGINS.map((c) => `${BIN.cniDir}/${c}`),
  );
  assert.deepEqual(paths.filter((p) => p.startsWith(PRESEED_DIR)), [
    `${PRESEED_DIR}/busybox.tar`,
    `${PRESEED_DIR}/pause.tar`,
  ]);
  assert.equal(new Set(paths).size, paths.length);
  assert.deepEqual(
    plan.filter((p) => p.source === "debian" && p.hostUsr).map((p) => p.path),
    Object.keys(USR_PAYLOADS),
  );
  assert.equal(
    plan.filter((p) => p.source === "debian").length,
    Object.keys(DEBIAN_PAYLOADS).length + Object.keys(USR_PAYLOADS).length,
  );
  assert.throws(() => payloadPlan({ ...INPUTS, archives: { "../x": "/x" } }), /bad image name/);
});

Deno.test("payload plan: the built runtime, executable, at BIN's paths; none of Debian's", () => {
  const plan = payloadPlan(INPUTS);
  for (
    const [path, name] of [[BIN.containerd, "containerd"], [BIN.ctr, "ctr"], [BIN.runc, "runc"]]
  ) {
    assert.deepEqual(plan.find((p) => p.path === path), {
      path,
      source: "build",
      from: `/cache/${name}`,
      mode: 0o755,
    });
  }
  // containerd finds the runc shim (runtime type io.containerd.runc.v2) beside itself on PATH.
  assert.equal(
    plan.find((p) => p.path === `${BIN.containerd}-shim-runc-v2`)?.source,
    "build",
  );
  for (const p of plan) {
    if (p.source === "debian") assert.ok(!["containerd", "runc"].includes(p.debian.pkg), p.path);
  }
  const { runc: _, ...noRunc } = RUNTIME;
  assert.throws(
    () => payloadPlan({ ...INPUTS, runtime: noRunc }),
    /runtime lacks \/containerd\/bin\/runc/,
  );
  assert.throws(
    () => payloadPlan({ ...INPUTS, runtime: { ...RUNTIME, "../x": "/x" } }),
    /bad runtime binary/,
  );
});

Deno.test("payload plan: gVisor's runsc and shim, executable, only when built", () => {
  const gvisor = { runsc: "/cache/runsc", shim: "/cache/shim" };
  const plan = payloadPlan({ ...INPUTS, gvisor });
  assert.deepEqual(plan.filter((p) => p.path === BIN.runsc || p.path === BIN.runscShim), [
    { path: BIN.runsc, source: "build", from: "/cache/runsc", mode: 0o755 },
    { path: BIN.runscShim, source: "build", from: "/cache/shim", mode: 0o755 },
  ]);
  // containerd derives the shim's file name from the runtime type io.containerd.runsc.v1.
  assert.ok(BIN.runscShim.endsWith("/containerd-shim-runsc-v1"));
  assert.equal(BIN.runscShim.replace(/[^/]+$/, ""), BIN.containerd.replace(/[^/]+$/, ""));
  const without = payloadPlan(INPUTS).map((p) => p.path);
  assert.ok(!without.includes(BIN.runsc) && !without.includes(BIN.runscShim));
});

Deno.test("payload plan: every CNI plugin type the conflist names is shipped", () => {
  const types = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) k === "type" ? types.add(String(x)) : walk(x);
    }
  };
  walk(JSON.parse(renderCniTemplate(NODE_PATHS)));
  assert.ok(types.size > 0);
  for (const t of types) assert.ok(CNI_PLUGINS.includes(t), t);
  assert.ok(CNI_PLUGINS.includes("loopback")); // containerd's CRI runs it for every sandbox
});
