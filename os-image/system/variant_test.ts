import assert from "node:assert/strict";
import { RUNTIME_BINARY_NAMES } from "../../node/kubernetes/containerd/build.ts";
import { BIN, PRESEED_DIR } from "../../node/kubernetes/paths.ts";
import { DEBIAN_PAYLOADS, payloadPlan, USR_PAYLOADS } from "../../node/kubernetes/payloads.ts";
import { parseLayout } from "./stage.ts";
import { fullLayout } from "./variant.ts";

const INPUTS = {
  kube: "/cache/kube",
  runtime: Object.fromEntries(RUNTIME_BINARY_NAMES.map((n) => [n, `/cache/${n}`])),
  archives: { pause: "/c/p.tar", busybox: "/c/b.tar" },
  gvisor: { runsc: "/cache/runsc", shim: "/cache/shim" },
};

Deno.test("full variant: every payload of the plan is a layout entry, /var linked", () => {
  const { entries, artifacts } = fullLayout(INPUTS);
  const by = new Map(entries.map((e) => [e.path, e]));
  for (const p of payloadPlan(INPUTS)) assert.ok(by.has(p.path), p.path);
  assert.deepEqual(by.get(BIN.kube), {
    path: BIN.kube,
    source: `build:payload${BIN.kube}`,
    mode: "0755",
  });
  assert.equal(artifacts[`payload${BIN.kube}`], "/cache/kube");
  assert.equal(by.get(`${PRESEED_DIR}/pause.tar`)?.mode, "0644");
  assert.equal(artifacts[`payload${PRESEED_DIR}/pause.tar`], "/c/p.tar");
  assert.equal(by.get(BIN.runc)?.source, `build:payload${BIN.runc}`);
  assert.equal(artifacts[`payload${BIN.runc}`], "/cache/runc");
  assert.equal(by.get(`${BIN.nftDir}/nft`)?.source, "deb:nftables:/usr/sbin/nft");
  for (const [node, deb] of Object.entries({ ...DEBIAN_PAYLOADS, ...USR_PAYLOADS })) {
    assert.deepEqual(by.get(node), {
      path: node,
      source: `deb:${deb.pkg}:${deb.host}`,
      mode: "0755",
    });
  }
  assert.equal(by.get("/var")?.source, "symlink:/ephemeral/var");
  // Valid together with the core layout: no path repeated, every source well-formed.
  const core = parseLayout(
    Deno.readTextFileSync(new URL("../rootfs/layout.json", import.meta.url)),
  );
  assert.equal(
    parseLayout(JSON.stringify({ entries: [...core, ...entries] })).length,
    core.length + entries.length,
  );
  for (const e of entries.filter((e) => e.source.startsWith("build:"))) {
    assert.ok(artifacts[e.source.slice(6)], e.path);
  }
  assert.equal(artifacts[`payload${BIN.runscShim}`], "/cache/shim");
  assert.equal(by.get(BIN.runsc)?.mode, "0755");
  // kube + the runtime + runsc + shim + 2 archives
  assert.equal(Object.keys(artifacts).length, 5 + RUNTIME_BINARY_NAMES.length);
});
