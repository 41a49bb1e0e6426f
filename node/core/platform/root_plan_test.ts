/** Tier-1 tests of the namespace node's root plan (pure: no mounts). */
import assert from "node:assert/strict";
import {
  type HostEntry,
  type RootInput,
  rootPlan,
  type RootStep,
  sourcePathConflict,
} from "./root_plan.ts";
import { XFS_QUOTA_PROC } from "../../base/fsquota/fsquota.ts";
import { agentFiles } from "./namespace_root.ts";

/** A merged-usr host with /etc/ssl and /etc/passwd only. */
const host = (p: string): HostEntry | undefined =>
  ({
    "/bin": { kind: "symlink", to: "usr/bin" },
    "/sbin": { kind: "symlink", to: "usr/sbin" },
    "/lib": { kind: "symlink", to: "usr/lib" },
    "/lib64": { kind: "dir" },
    "/etc/passwd": { kind: "file" },
    "/etc/ssl": { kind: "dir" },
  } as Record<string, HostEntry>)[p];

const input = (over: Partial<RootInput> = {}): RootInput => ({
  state: "/s/nodes/0",
  data: { kind: "dir", path: "/s/nodes/0/data" },
  agent: { kind: "bundle", main: "/repo/dist/agent.js", protoDir: "/repo/dist/proto" },
  deno: "/cache/deno",
  host,
  ...over,
});

const top = (steps: RootStep[]) =>
  [
    ...new Set(steps.filter((s) => s.target !== "/").map((s) => "/" + s.target.split("/")[1])),
  ].sort();
const binds = (steps: RootStep[]) =>
  steps.flatMap((s) =>
    s.op === "bind" ? [`${s.source} ${s.target}${s.readonly ? " ro" : ""}`] : []
  );

Deno.test("root plan: only the listed top-level entries, host paths only as bind sources", () => {
  const steps = rootPlan(input());
  // Read-only like a VM's root: /etc and / are remounted read-only, last.
  assert.deepEqual(
    steps.slice(-2).map((s) => `${s.op} ${s.target}`),
    ["readonly /etc", "readonly /"],
  );
  assert.deepEqual(top(steps), [
    "/agent",
    "/bin",
    "/data",
    "/dev",
    "/ephemeral",
    "/esp",
    "/etc",
    "/lib",
    "/lib64",
    "/proc",
    "/run",
    "/sbin",
    "/sys",
    "/tmp",
    "/usr",
    "/var",
  ]);
  assert.deepEqual(binds(steps), [
    "/usr /usr ro",
    "/lib64 /lib64 ro", // a host directory, not a merged-usr symlink
    "/cache/deno /agent/deno ro",
    "/repo/dist/agent.js /agent/agent.js ro",
    "/repo/dist/proto /agent/proto ro",
    "/s/nodes/0/esp /esp",
    "/s/nodes/0/data /data",
    "/dev/null /dev/null",
    "/dev/zero /dev/zero",
    "/dev/full /dev/full",
    "/dev/random /dev/random",
    "/dev/urandom /dev/urandom",
    "/dev/tty /dev/tty",
  ]);
  const links = steps.flatMap((s) => s.op === "symlink" ? [`${s.target} -> ${s.to}`] : []);
  assert.deepEqual(links, [
    "/bin -> usr/bin",
    "/sbin -> usr/sbin",
    "/lib -> usr/lib",
    "/etc/hosts -> /ephemeral/hosts",
    "/etc/resolv.conf -> /ephemeral/resolv.conf",
    "/etc/machine-id -> /ephemeral/machine-id",
    "/dev/ptmx -> pts/ptmx",
    "/var -> /ephemeral/var",
  ]);
  // Only what the host has is copied.
  const copies = steps.flatMap((s) => s.op === "copy" ? [s.target] : []);
  assert.deepEqual(copies, ["/etc/passwd", "/etc/ssl"]);
  // /agent is sealed read-only after its binds.
  const ro = steps.findIndex((s) => s.op === "readonly" && s.target === "/agent");
  assert.ok(ro > steps.findIndex((s) => s.op === "bind" && s.target === "/agent/proto"));
});

Deno.test("root plan: loop storage mounts XFS (prjquota when the kernel has XFS quotas) and shows only its device; TPM socket at /tpm/sock", () => {
  const steps = rootPlan(input({
    data: { kind: "loop", device: "/dev/loop5" },
    tpmSocket: "/s/nodes/0/tpm/sock",
  }));
  const data = steps.filter((s) => s.target === "/data" && s.op !== "dir");
  assert.deepEqual(data, [{
    op: "mount",
    source: "/dev/loop5",
    target: "/data",
    fstype: "xfs",
    flags: 6, // nosuid, nodev
  }]);
  // With XFS quota support in the kernel, /data gets project quotas (the CSI volumes' limits).
  const quota = rootPlan(input({
    data: { kind: "loop", device: "/dev/loop5" },
    host: (p) => p === XFS_QUOTA_PROC ? { kind: "file" } : undefined,
  })).filter((s) => s.target === "/data" && s.op === "mount");
  assert.deepEqual(quota.map((s) => s.op === "mount" && s.data), ["prjquota"]);
  const dev = steps.filter((s) => s.target.startsWith("/dev/") && s.op === "bind");
  assert.deepEqual(dev.map((s) => s.target.slice(5)), [
    "null",
    "zero",
    "full",
    "random",
    "urandom",
    "tty",
    "loop5",
  ]);
  assert.ok(binds(steps).includes("/s/nodes/0/tpm/sock /tpm/sock"));
  // The /dev tmpfs comes before anything placed inside it.
  const devTmpfs = steps.findIndex((s) => s.op === "tmpfs" && s.target === "/dev");
  assert.ok(steps.findIndex((s) => s.target === "/dev/loop5") > devTmpfs);
});

Deno.test("root plan: --payloads binds kubernetes/ and containerd/ read-only; /dev/kmsg when present", () => {
  const withPayloads = (p: string): HostEntry | undefined =>
    p === "/p/kubernetes" || p === "/p/containerd"
      ? { kind: "dir" }
      : p === "/dev/kmsg"
      ? { kind: "file" }
      : host(p);
  const steps = rootPlan(input({ payloads: "/p", host: withPayloads }));
  const b = binds(steps);
  assert.ok(b.includes("/p/kubernetes /kubernetes ro"));
  assert.ok(b.includes("/p/containerd /containerd ro"));
  assert.ok(b.includes("/dev/kmsg /dev/kmsg"));
  // Both before the root is sealed read-only.
  const sealed = steps.findIndex((s) => s.op === "readonly" && s.target === "/");
  assert.ok(steps.findIndex((s) => s.target === "/containerd") < sealed);
  // A payload directory the host lacks is left out; no --payloads, no binds.
  const partial = (p: string) => p === "/p/kubernetes" ? { kind: "dir" as const } : host(p);
  assert.ok(
    !binds(rootPlan(input({ payloads: "/p", host: partial }))).some((x) =>
      x.includes("/containerd")
    ),
  );
  assert.ok(!binds(rootPlan(input())).some((x) => x.includes("/kubernetes")));
});

Deno.test("root plan: a source run keeps its repository and Deno cache at their host paths", () => {
  const steps = rootPlan(input({ agent: { kind: "source", paths: ["/work/repo", "/root/.d"] } }));
  assert.ok(binds(steps).includes("/work/repo /work/repo ro"));
  assert.ok(binds(steps).includes("/root/.d /root/.d ro"));
  assert.ok(!binds(steps).some((b) => b.includes("/agent/agent.js")));
});

Deno.test("root plan: a source run from below /var is refused with its reason, not half-built", () => {
  const paths = ["/var/tmp/ci/repo", "/root/.d"];
  assert.throws(
    () => rootPlan(input({ agent: { kind: "source", paths } })),
    /\/var\/tmp\/ci\/repo at its host path.*\/var a symlink to \/ephemeral\/var/,
  );
  assert.equal(sourcePathConflict("/work/repo"), undefined);
  assert.equal(sourcePathConflict("/variant/repo"), undefined);
});

Deno.test("agentFiles: a bundle is bound as /agent/agent.js, a source run by repository", () => {
  const dir = Deno.makeTempDirSync({ prefix: "mk-agentfiles-" });
  try {
    Deno.mkdirSync(`${dir}/dist/proto`, { recursive: true });
    Deno.writeTextFileSync(`${dir}/dist/agent.js`, "");
    assert.deepEqual(agentFiles(`file://${dir}/dist/agent.js`), {
      kind: "bundle",
      main: `${dir}/dist/agent.js`,
      protoDir: `${dir}/dist/proto`,
    });
    // Chunks beside it (named `<name>-<content hash>.js`) stay on the host: Deno has read them.
    Deno.writeTextFileSync(`${dir}/dist/chunk-2JCVSJRM.js`, "");
    assert.deepEqual(agentFiles(`file://${dir}/dist/agent.js`), {
      kind: "bundle",
      main: `${dir}/dist/agent.js`,
      protoDir: `${dir}/dist/proto`,
    });
    Deno.mkdirSync(`${dir}/node`);
    Deno.writeTextFileSync(`${dir}/deno.json`, "{}");
    const src = agentFiles(`file://${dir}/node/main.ts`);
    assert.equal(src.kind, "source");
    assert.equal(src.kind === "source" && src.paths[0], dir);
    assert.throws(() => agentFiles("https://example.com/agent.js"), /is not a file/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
