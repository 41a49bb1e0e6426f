/** Tier 1: the namespace node's command line (testing.md §2.2). */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { NodeParametersSchema } from "../../proto/gen/metropolis/proto/api/configuration_pb.ts";
import {
  AGENT_ENTRY,
  copyRuntime,
  DATA_IMAGE_SIZE,
  NamespaceNode,
  seedAgentCache,
  WAITING_NICE,
  waitingArgv,
} from "./node.ts";
import { AGENT_CACHE_DIR, AGENT_STAMP } from "../../os-image/tools/bundle.ts";
import { agentArgv } from "../../node/base/osimage/agent.ts";
import { diesWithParent } from "../../node/base/sys/parent_death.ts";

const base = {
  index: 4,
  dir: "/tmp/s/nodes/4",
  netns: "metro-metro0-4",
  init: "/cache/init",
  allowReboot: false,
  echo: false,
};

Deno.test("node argv: setsid, dies with the launcher, netns, unshare namespaces, /init --, agent flags", () => {
  const argv = new NamespaceNode({ ...base, tpm: true }).argv();
  // Its own session (Ctrl-C reaches only the launcher), then killed if the launcher dies.
  assert.equal(argv[0], "setsid");
  const rest = argv.slice(argv.indexOf("ip"));
  assert.deepEqual(argv.slice(1), diesWithParent(rest));
  // In the node's network namespace, unshare makes the other namespaces and forks /init.
  assert.deepEqual(rest.slice(0, 5), ["ip", "netns", "exec", "metro-metro0-4", "unshare"]);
  const init = rest.indexOf("/cache/init");
  const flags = rest.slice(5, init).join(" ");
  for (const f of ["--pid", "--fork", "--kill-child", "--mount", "--uts", "--ipc"]) {
    assert.ok(flags.split(" ").includes(f), `unshare ${f} missing: ${flags}`);
  }
  assert.match(flags, /--propagation private/);
  assert.equal(rest[init + 1], "--");
  assert.deepEqual(
    rest.slice(init + 2),
    agentArgv(Deno.execPath(), AGENT_ENTRY, [
      "--platform=namespace",
      "--state=/tmp/s/nodes/4",
      "--tpm-socket=/tmp/s/nodes/4/tpm/sock",
    ]),
  );
  const noTpm = new NamespaceNode({ ...base, tpm: false }).argv();
  assert.ok(!noTpm.some((a) => a.startsWith("--tpm-socket")));
  assert.ok(AGENT_ENTRY.endsWith("/dist/agent.js"), "nodes run the bundle");
});

Deno.test("node private runtime: the agent runs on a copy of deno of its own, made once", async () => {
  const node = new NamespaceNode({ ...base, tpm: false, privateRuntime: true });
  assert.equal(node.runtime, "/tmp/s/nodes/4/runtime/deno");
  assert.equal(node.argv()[node.argv().indexOf("--") + 1], node.runtime);
  assert.equal(new NamespaceNode({ ...base, tpm: false }).runtime, Deno.execPath());
  const dir = await Deno.makeTempDir({ prefix: "metropolis-runtime-" });
  try {
    const path = `${dir}/runtime/deno`;
    await copyRuntime(path);
    const [src, copy] = [Deno.statSync(Deno.execPath()), Deno.statSync(path)];
    assert.equal(copy.size, src.size);
    assert.notEqual(copy.ino, src.ino, "a file of its own, not a link");
    assert.ok((copy.mode! & 0o111) !== 0, "executable");
    await copyRuntime(path); // kept across reboots: not copied again
    assert.equal(Deno.statSync(path).mtime?.getTime(), copy.mtime?.getTime());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("node prepare: data/ or a sparse data.img, never both; kept storage stays", async () => {
  const dir = await Deno.makeTempDir({ prefix: "metro-node-prepare-" });
  try {
    const params = create(NodeParametersSchema, {});
    const loop = new NamespaceNode({ ...base, dir: `${dir}/a`, tpm: false, storage: "loop" });
    await loop.prepare(params);
    const img = await Deno.stat(`${dir}/a/data.img`);
    assert.equal(img.size, DATA_IMAGE_SIZE);
    assert.ok((img.blocks ?? 0) * 512 < 1024 * 1024, "the image is sparse");
    await assert.rejects(Deno.stat(`${dir}/a/data`));
    await Deno.stat(`${dir}/a/esp/metropolis/parameters.pb`);
    // The same directory prepared again as `dir` storage keeps its image (kept state decides).
    await new NamespaceNode({ ...base, dir: `${dir}/a`, tpm: false, storage: "dir" }).prepare(
      params,
    );
    await assert.rejects(Deno.stat(`${dir}/a/data`));
    await new NamespaceNode({ ...base, dir: `${dir}/b`, tpm: false }).prepare(params);
    assert.ok((await Deno.stat(`${dir}/b/data`)).isDirectory);
    await assert.rejects(Deno.stat(`${dir}/b/data.img`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("node argv: agentCommand replaces the agent, {state} and {i} substituted", () => {
  const argv = new NamespaceNode({
    ...base,
    tpm: false,
    agentCommand: ["/bin/stand-in", "{i}", "--dir={state}"],
  }).argv();
  assert.deepEqual(argv.slice(-3), ["/bin/stand-in", "4", "--dir=/tmp/s/nodes/4"]);
});

Deno.test("a node's first DENO_DIR copies the warmed cache of the current bundle only", async () => {
  const dist = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dist}/${AGENT_CACHE_DIR}`);
    await Deno.writeTextFile(`${dist}/${AGENT_STAMP}`, "h1\n");
    await Deno.writeTextFile(`${dist}/${AGENT_CACHE_DIR}/stamp`, "h1\n");
    await Deno.writeTextFile(`${dist}/${AGENT_CACHE_DIR}/v8_code_cache_v2`, "cache");
    await seedAgentCache(`${dist}/n0`, dist);
    assert.equal(await Deno.readTextFile(`${dist}/n0/v8_code_cache_v2`), "cache");
    await assert.rejects(() => Deno.stat(`${dist}/n0/stamp`));
    // An existing DENO_DIR (a node's later boots) stays as it is.
    await Deno.writeTextFile(`${dist}/n0/v8_code_cache_v2`, "own");
    await seedAgentCache(`${dist}/n0`, dist);
    assert.equal(await Deno.readTextFile(`${dist}/n0/v8_code_cache_v2`), "own");
    // A cache of another bundle is not used.
    await Deno.writeTextFile(`${dist}/${AGENT_STAMP}`, "h2\n");
    await seedAgentCache(`${dist}/n1`, dist);
    assert.equal(await Deno.stat(`${dist}/n1`).then(() => true, () => false), false);
  } finally {
    await Deno.remove(dist, { recursive: true });
  }
});

Deno.test("a node waiting for parameters sets its new session's autogroup and nice, then runs the node argv", () => {
  const argv = new NamespaceNode({ ...base, tpm: false }).argv();
  const w = waitingArgv(argv);
  assert.deepEqual(w.slice(0, 2), ["setsid", "sh"]);
  assert.equal(w[2], "-c");
  assert.match(w[3], new RegExp(`^echo ${WAITING_NICE} > /proc/self/autogroup 2>/dev/null; `));
  assert.match(w[3], new RegExp(`exec nice -n ${WAITING_NICE} "\\$@"$`));
  // $0, then everything after setsid unchanged.
  assert.deepEqual(w.slice(4), ["sh", ...argv.slice(1)]);
  assert.throws(() => waitingArgv(["ip", "netns"]), /setsid/);
});
