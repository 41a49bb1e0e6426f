import assert from "node:assert/strict";
import { buildContainerd } from "./build.ts";
import {
  CRI_PLUGINS,
  DISABLED_PLUGINS,
  hasSysResource,
  NODE_PATHS,
  renderCniTemplate,
  renderContainerdConfig,
} from "./config.ts";
import { importArgs } from "./preseed.ts";

const SANDBOX = "preseed.metropolis.internal/node/kubernetes/pause:latest";

/**
 * `containerd config dump` of `config` by the nodes' containerd (build.ts; cached after the first
 * build): what containerd 2 itself made of it, every plugin's settings decoded into its structs.
 */
async function dump(config: string): Promise<string> {
  const { containerd } = await buildContainerd();
  const dir = await Deno.makeTempDir({ prefix: "mk8s-ctrcfg-" });
  try {
    await Deno.writeTextFile(`${dir}/config.toml`, config);
    const out = await new Deno.Command(containerd, {
      args: ["--config", `${dir}/config.toml`, "config", "dump"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The `key = value` lines of table `[name]` in a dump (up to the next table header). */
function table(dump: string, name: string): string[] {
  const lines = dump.split("\n").map((l) => l.trim());
  const i = lines.indexOf(`[${name}]`);
  assert.ok(i >= 0, `config dump lacks [${name}]`);
  const end = lines.findIndex((l, j) => j > i && l.startsWith("["));
  return lines.slice(i + 1, end < 0 ? undefined : end).filter((l) => l.includes(" = "));
}

/** containerd 2 dumps plugin IDs in single quotes. */
const plugin = (id: string) => `plugins.'${id}'`;

Deno.test("containerd config: containerd 2 reads our values where we put them", async () => {
  const d = await dump(renderContainerdConfig({ paths: NODE_PATHS, sandboxImage: SANDBOX }));
  assert.match(d, /^version = 3$/m);
  assert.match(d, new RegExp(`^disabled_plugins = \\['${DISABLED_PLUGINS.join("', '")}'\\]$`, "m"));
  const runtime = plugin(CRI_PLUGINS.runtime);
  const runc = `${runtime}.containerd.runtimes.runc`;
  const want: Record<string, string[]> = {
    "": [`root = '/data/containerd'`, `state = '/ephemeral/containerd'`],
    grpc: [`address = '/ephemeral/containerd/client.sock'`],
    ttrpc: [`address = '/ephemeral/containerd/client.sock.ttrpc'`],
    metrics: [`address = '127.0.0.1:7846'`],
    [plugin("io.containerd.internal.v1.opt")]: [`path = '/data/containerd/opt'`],
    [plugin(CRI_PLUGINS.server)]: [`stream_server_address = '127.0.0.1'`],
    [plugin(CRI_PLUGINS.images)]: [`snapshotter = 'overlayfs'`],
    [`${plugin(CRI_PLUGINS.images)}.pinned_images`]: [`sandbox = '${SANDBOX}'`],
    [runtime]: [
      `enable_unprivileged_ports = true`,
      `enable_unprivileged_icmp = true`,
      `restrict_oom_score_adj = false`,
      `netns_mounts_under_state_dir = true`,
    ],
    [`${runtime}.containerd`]: [`default_runtime_name = 'runc'`],
    [runc]: [`runtime_type = 'io.containerd.runc.v2'`],
    [`${runc}.options`]: [`BinaryName = '/containerd/bin/runc'`, `SystemdCgroup = false`],
    [`${runtime}.cni`]: [
      `bin_dirs = ['/containerd/bin/cni']`,
      `conf_dir = '/ephemeral/containerd/cni/conf'`,
      `conf_template = '/ephemeral/containerd/cni.conflist.tmpl'`,
      `max_conf_num = 1`,
    ],
  };
  // The top level: the lines before the first table.
  const top = d.slice(0, d.search(/^\[/m)).split("\n").map((l) => l.trim());
  for (const [name, lines] of Object.entries(want)) {
    const have = name ? table(d, name) : top;
    for (const l of lines) assert.ok(have.includes(l), `[${name}] lacks ${l}: ${have.join("; ")}`);
  }
  const restricted = await dump(
    renderContainerdConfig({ paths: NODE_PATHS, sandboxImage: SANDBOX, restrictOomScoreAdj: true }),
  );
  assert.ok(table(restricted, runtime).includes("restrict_oom_score_adj = true"));
});

Deno.test("containerd config: runtime runsc only with a runsc shim config", async () => {
  const without = renderContainerdConfig({ paths: NODE_PATHS, sandboxImage: SANDBOX });
  assert.ok(!without.includes("runsc"), "runsc configured without a shim config");
  const d = await dump(
    renderContainerdConfig({
      paths: NODE_PATHS,
      sandboxImage: SANDBOX,
      runscConfig: "/ephemeral/containerd/runsc.toml",
    }),
  );
  const runsc = `${plugin(CRI_PLUGINS.runtime)}.containerd.runtimes.runsc`;
  assert.ok(table(d, runsc).includes(`runtime_type = 'io.containerd.runsc.v1'`));
  const options = table(d, `${runsc}.options`);
  for (
    const want of [
      `TypeUrl = 'io.containerd.runsc.v1.options'`,
      `ConfigPath = '/ephemeral/containerd/runsc.toml'`,
    ]
  ) assert.ok(options.includes(want), `runsc options lack ${want}: ${options.join("; ")}`);
  assert.ok(
    table(d, `${plugin(CRI_PLUGINS.runtime)}.containerd`).includes(
      `default_runtime_name = 'runc'`,
    ),
  );
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
    "--local",
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
