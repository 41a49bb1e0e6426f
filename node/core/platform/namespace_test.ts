import assert from "node:assert/strict";
import { NodeStorageSecurity } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { emptyDirectory, NAMESPACE_CAPABILITIES, namespacePlatform } from "./namespace.ts";
import { kubernetesPayloadsPresent } from "./worker_host.ts";

const FULL = "Name:\tx\nCapBnd:\t000001ffffffffff\n";
const key = (security: NodeStorageSecurity) => ({ security, key: new Uint8Array() });

async function withState(fn: (state: string) => Promise<void>): Promise<void> {
  const state = await Deno.makeTempDir({ prefix: "ns-platform-test-" });
  try {
    await fn(state);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
}

Deno.test("namespace platform: a guest of the host kernel — no encryption, WireGuard, kexec, efivars", () => {
  const p = namespacePlatform({ state: "/s/n0" }, { procStatus: FULL });
  assert.equal(p.capabilities, NAMESPACE_CAPABILITIES);
  assert.deepEqual({ ...p.capabilities }, {
    encryption: false,
    wireguard: false,
    kexec: false,
    efivars: false,
    reboot: "pid-namespace",
  });
  // The host's cgroup hierarchies are shared: each node's kubelet gets its own root.
  assert.deepEqual(p.workerHost("metropolis-ab12"), {
    cgroupRoot: "/metropolis-metropolis-ab12",
    wireguard: false,
    restrictOomScoreAdj: false,
    // The payload directory bound by the launcher decides: what this machine has.
    kubernetesPayloads: kubernetesPayloadsPresent(),
  });
  assert.deepEqual(p.consoles(), [Deno.stdout]);
  assert.throws(() => namespacePlatform({}), /without --state/);
});

Deno.test("namespace platform: MountNew/MountExisting accept the prepared /data (MountNew empties it), INSECURE only", async () => {
  await withState(async (state) => {
    const p = namespacePlatform({ state }, { data: `${state}/data`, esp: `${state}/esp` });
    await assert.rejects(p.data.mountNew(key(NodeStorageSecurity.INSECURE)), /data is missing/);
    await Deno.mkdir(`${state}/data/etcd`, { recursive: true });
    await Deno.writeTextFile(`${state}/data/etcd/member`, "kept");
    await p.data.mountExisting(key(NodeStorageSecurity.INSECURE));
    assert.equal(await Deno.readTextFile(`${state}/data/etcd/member`), "kept");
    await p.data.mountNew(key(NodeStorageSecurity.INSECURE));
    assert.deepEqual(await Array.fromAsync(Deno.readDir(`${state}/data`)), []);
    for (const s of [NodeStorageSecurity.ENCRYPTED, NodeStorageSecurity.AUTHENTICATED_ENCRYPTED]) {
      await assert.rejects(p.data.mountNew(key(s)), /not available on this platform/);
      await assert.rejects(p.data.mountExisting(key(s)), /not available on this platform/);
    }
  });
});

Deno.test("namespace platform: the ESP is the state directory's esp, bound by the bring-up", async () => {
  await withState(async (state) => {
    const p = namespacePlatform({ state }, { esp: `${state}/esp` });
    assert.equal(p.esp.path, `${state}/esp`);
    await assert.rejects(p.esp.mount(() => {}), /esp is missing/);
    await Deno.mkdir(`${state}/esp`);
    const lines: string[] = [];
    await p.esp.mount((l) => lines.push(l));
    assert.deepEqual(lines, [`ESP: ${state}/esp bound at ${state}/esp by the bring-up`]);
  });
});

Deno.test("namespace platform: /data is not emptied through a mount below it", async () => {
  await withState(async (state) => {
    await Deno.mkdir(`${state}/data/kubelet`, { recursive: true });
    const mountinfo =
      `36 35 98:0 / ${state}/data/kubelet rw,noatime master:1 - xfs /dev/loop0 rw\n`;
    await assert.rejects(
      emptyDirectory(`${state}/data`, mountinfo),
      /cannot empty .*data: .*data\/kubelet is mounted below it/,
    );
    assert.ok((await Deno.stat(`${state}/data/kubelet`)).isDirectory);
  });
});
