import assert from "node:assert/strict";
import { hasSysResource, NODE_PATHS, renderCniTemplate, renderContainerdConfig } from "./config.ts";
import { importArgs } from "./preseed.ts";

const SANDBOX = "preseed.metropolis.internal/node/kubernetes/pause:latest";

Deno.test("containerd config: containerd itself parses it with our values", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mk8s-ctrcfg-" });
  try {
    const file = `${dir}/config.toml`;
    await Deno.writeTextFile(
      file,
      renderContainerdConfig({ paths: NODE_PATHS, sandboxImage: SANDBOX }),
    );
    const out = await new Deno.Command("containerd", {
      args: ["--config", file, "config", "dump"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const dump = new TextDecoder().decode(out.stdout);
    for (
      const want of [
        `root = "/data/containerd"`,
        `state = "/ephemeral/containerd"`,
        `address = "/ephemeral/containerd/client.sock"`,
        `sandbox_image = "${SANDBOX}"`,
        `snapshotter = "overlayfs"`,
        `BinaryName = "/containerd/bin/runc"`,
        `SystemdCgroup = false`,
        `conf_template = "/ephemeral/containerd/cni.conflist.tmpl"`,
        `netns_mounts_under_state_dir = true`,
        `enable_unprivileged_ports = true`,
        `address = "127.0.0.1:7846"`,
        `restrict_oom_score_adj = false`,
      ]
    ) assert.ok(dump.includes(want), `config dump lacks ${want}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("containerd config: runtime runsc only with a runsc shim config", async () => {
  const without = renderContainerdConfig({ paths: NODE_PATHS, sandboxImage: SANDBOX });
  assert.ok(!without.includes("runsc"), "runsc configured without a shim config");
  const dir = await Deno.makeTempDir({ prefix: "mk8s-ctrcfg-" });
  try {
    const file = `${dir}/config.toml`;
    await Deno.writeTextFile(
      file,
      renderContainerdConfig({
        paths: NODE_PATHS,
        sandboxImage: SANDBOX,
        runscConfig: "/ephemeral/containerd/runsc.toml",
      }),
    );
    const out = await new Deno.Command("containerd", {
      args: ["--config", file, "config", "dump"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const dump = new TextDecoder().decode(out.stdout);
    const runsc = dump.slice(dump.indexOf(".containerd.runtimes.runsc]"));
    for (
      const want of [
        `runtime_type = "io.containerd.runsc.v1"`,
        `TypeUrl = "io.containerd.runsc.v1.options"`,
        `ConfigPath = "/ephemeral/containerd/runsc.toml"`,
      ]
    ) assert.ok(runsc.includes(want), `runsc runtime lacks ${want}`);
    assert.ok(dump.includes(`default_runtime_name = "runc"`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.throws(
    () => renderContainerdConfig({ paths: NODE_PATHS, sandboxImage: SANDBOX, runscConfig: "r" }),
    /path runscConfig must be absolute/,
  );
});

Deno.test("containerd config: rejects relative or quoting paths", () => {
  assert.throws(
    () => renderContainerdConfig({ paths: { ...NODE_PATHS, root: "data" }, sandboxImage: SANDBOX }),
    /path root must be absolute/,
  );
  assert.throws(() => renderCniTemplate({ ...NODE_PATHS, ipamDir: '/a"b' }), /path ipamDir/);
});

Deno.test("CNI template: ptp + host-local over {{.PodCIDR}}", () => {
  const t = JSON.parse(renderCniTemplate(NODE_PATHS));
  assert.equal(t.cniVersion, "0.4.0");
  assert.equal(t.plugins[0].type, "ptp");
  assert.equal(t.plugins[0].mtu, 1420);
  assert.deepEqual(t.plugins[0].ipam.ranges, [[{ subnet: "{{.PodCIDR}}" }]]);
  assert.equal(t.plugins[0].ipam.dataDir, "/ephemeral/containerd/ipam");
});

Deno.test("preseed: ctr import arguments target k8s.io and overlayfs", () => {
  assert.deepEqual(importArgs("/s.sock", "/x.tar"), [
    "--address",
    "/s.sock",
    "--namespace",
    "k8s.io",
    "images",
    "import",
    "--snapshotter",
    "overlayfs",
    "/x.tar",
  ]);
});

Deno.test("hasSysResource reads bit 24 of CapBnd", () => {
  assert.equal(hasSysResource("CapBnd:\t000001ffffffffff\n"), true);
  assert.equal(hasSysResource("CapBnd:\t000001fffeffffff\n"), false);
  assert.throws(() => hasSysResource("Name: x\n"), /no CapBnd/);
});
