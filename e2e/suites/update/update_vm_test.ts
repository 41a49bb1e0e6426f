/**
 * update suite on a VM node (issue #14, testing.md tier 3): one node from the signed core image
 * X (0.1.0) is updated through NodeManagement.UpdateNode from the local OCI registry
 * (e2e/registry, on the launcher's bridge address) to Y (0.2.0) with a firmware reboot (BootNext)
 * and to Z (0.3.0) with kexec; GetNodes shows each version once the node is HEALTHY again. Then
 * two broken images are installed with a reboot and never become permanent: one whose system
 * payload is corrupted consistently with its chunk hashes (dm-verity refuses the root, the kernel
 * panics), one whose UKIs carry a wrong verity root hash (same); each time the firmware falls
 * back to BootOrder's first entry and the node is HEALTHY on Z again. Subnet 10.1.57.0/24.
 *
 * Everything runs under TCG; the times of each update are printed.
 */
import assert from "node:assert/strict";
import type * as grpc from "@grpc/grpc-js";
import type { Image } from "../../../os-image/image.ts";
import { BROKEN_BOOT, brokenSystem, buildVersion, nodeRelease, panickingUkis } from "./fixtures.ts";
import { type Cluster, launchCluster } from "../../launch/cluster.ts";
import { resolveOptions } from "../../launch/options.ts";
import { serveRegistry } from "../../registry/server.ts";
import { testEventual } from "../eventual.ts";
import { stepAllHealthy } from "../steps.ts";
import {
  ActivationMode,
  Node_Health,
  NodeManagement,
} from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import { makeClient } from "../../../proto/grpc.ts";
import { connectionParams } from "../../../node/core/rpc/client.ts";

const SUBNET = "10.1.57.0/24";
const opts = { sanitizeOps: false, sanitizeResources: false };

interface Fixture {
  c: Cluster;
  nodeId: string;
  refs: Record<string, string>;
}

let fixture: Promise<Fixture> | undefined;
let failures = 0;

function build(dir: string, version: string): Promise<Image> {
  return buildVersion(dir, version, { ovmf: version === "0.1.0", prefix: "update vm" });
}

function setup(): Promise<Fixture> {
  fixture ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "update-vm-" });
    globalThis.addEventListener("unload", () => {
      if (!Deno.env.get("E2E_KEEP")) Deno.removeSync(dir, { recursive: true });
    });
    const x = await build(dir, "0.1.0");
    const y = await build(dir, "0.2.0");
    const z = await build(dir, "0.3.0");
    const layouts: Record<string, string> = {
      y: y.oci.dir,
      z: z.oci.dir,
      "broken-system": await brokenSystem(z, dir, "0.4.0"),
      panic: await panickingUkis(z, dir, "0.5.0"),
    };
    const reg = await serveRegistry({
      repos: Object.fromEntries(Object.entries(layouts).map(([k, v]) => [`metropolis/${k}`, v])),
    });
    globalThis.addEventListener("unload", () => void reg.close());
    const started = performance.now();
    const c = await launchCluster(resolveOptions({
      mode: "vm",
      "num-nodes": 1,
      "tpm-mode": "disabled",
      "storage-security": "needs-insecure",
      "cluster-domain": "cluster.test",
      subnet: SUBNET,
      image: x.outDir,
      disk: "4G",
      ram: "2048M",
      "allow-reboot": true,
      keep: false,
    }));
    console.log(`update vm: node up after ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const nodeId = await testEventual("the node's ID from GetNodes", 600, async () => {
      const [n] = await c.api!.nodes();
      if (!n) throw new Error("no node yet");
      return n.id;
    });
    // The VMs reach the host on the bridge's gateway address.
    const host = `${c.topology.gateway}:${reg.port}`;
    const refs: Record<string, string> = {};
    for (const [k, v] of Object.entries(layouts)) {
      const index = JSON.parse(await Deno.readTextFile(`${v}/index.json`));
      refs[k] = `${host}|metropolis/${k}|${index.manifests[0].digest}`;
    }
    return { c, nodeId, refs };
  })();
  return fixture;
}

async function updateNode(f: Fixture, name: string, mode: ActivationMode): Promise<void> {
  const [host, repository, digest] = f.refs[name].split("|");
  const api = f.c.api!;
  const p = await connectionParams(`${f.c.nodeAddress(0)}:7839`, {
    ca: api.owner.caCertificate,
    nodeId: f.nodeId,
    identity: { certificate: api.owner.certificate, privateKey: api.owner.keys.privateKey },
    socks5: f.c.socks.address,
  });
  const m = makeClient(NodeManagement, p.address, p.credentials, p.options as grpc.ClientOptions);
  try {
    await m.updateNode({
      activationMode: mode,
      osImage: { scheme: "http", host, repository, digest },
    });
  } finally {
    m.close();
  }
}

async function versionOf(f: Fixture): Promise<{ healthy: boolean; version: string }> {
  const [n] = await f.c.api!.nodes(`node.id == "${f.nodeId}"`);
  return { healthy: n?.health === Node_Health.HEALTHY, version: nodeRelease(n) };
}

async function updateTo(f: Fixture, name: string, mode: ActivationMode, version: string) {
  const t0 = performance.now();
  await testEventual(
    `UpdateNode ${name} (${ActivationMode[mode]})`,
    600,
    () => updateNode(f, name, mode),
  );
  await new Promise((r) => setTimeout(r, 10_000));
  await testEventual(`node HEALTHY on ${version}`, 1200, async () => {
    const v = await versionOf(f);
    assert.ok(v.healthy && v.version === version, `node is ${JSON.stringify(v)}`);
  });
  console.log(
    `update vm: ${name} via ${ActivationMode[mode]}: request → HEALTHY on ${version} in ${
      ((performance.now() - t0) / 1000).toFixed(1)
    } s`,
  );
}

Deno.test({
  name: "update X→Y with a firmware reboot and Y→Z with kexec; GetNodes shows each version",
  ...opts,
  async fn() {
    let ok = false;
    try {
      const f = await setup();
      await stepAllHealthy(f.c.api!, 1, 600);
      assert.equal((await versionOf(f)).version, "0.1.0");
      await updateTo(f, "y", ActivationMode.REBOOT, "0.2.0");
      await updateTo(f, "z", ActivationMode.KEXEC, "0.3.0");
      ok = true;
    } finally {
      if (!ok) failures++;
    }
  },
});

async function notPermanent(f: Fixture, name: string, marker: RegExp) {
  const log = f.c.vms[0].consolePath;
  const before = (await Deno.readTextFile(log)).length;
  const t0 = performance.now();
  await testEventual(
    `UpdateNode ${name} (REBOOT)`,
    600,
    () => updateNode(f, name, ActivationMode.REBOOT),
  );
  await testEventual(`the broken slot fails to boot (${marker})`, 1200, async () => {
    const text = (await Deno.readTextFile(log)).slice(before);
    assert.match(text, marker);
  });
  // The panic resets the machine (panic=10). QEMU (-no-reboot) then ends and the launcher leaves
  // the node off; power it on again, as the reset itself would on a real machine.
  await testEventual("the VM of the failed boot ends", 300, () => {
    assert.ok(!f.c.vms[0].running, "QEMU still runs");
    return Promise.resolve();
  });
  const reset = (await Deno.readTextFile(log)).length;
  await f.c.startNode(0);
  await testEventual("the firmware boots BootOrder's first entry: the old slot", 600, async () => {
    const text = (await Deno.readTextFile(log)).slice(reset);
    assert.match(text, /BdsDxe: starting Boot[0-9A-F]{4} "Metropolis A"/);
  });
  await testEventual("the node is back, HEALTHY on 0.3.0", 1200, async () => {
    const v = await versionOf(f);
    assert.ok(v.healthy && v.version === "0.3.0", `node is ${JSON.stringify(v)}`);
  });
  console.log(
    `update vm: ${name}: request → back on 0.3.0 in ${
      ((performance.now() - t0) / 1000).toFixed(1)
    } s`,
  );
}

Deno.test({
  name:
    "broken images (corrupted system, panicking UKI) never become permanent: the node returns to Z",
  ...opts,
  async fn() {
    let ok = false;
    let c: Cluster | undefined;
    try {
      const f = await setup();
      c = f.c;
      await notPermanent(
        f,
        "broken-system",
        BROKEN_BOOT,
      );
      await notPermanent(
        f,
        "panic",
        BROKEN_BOOT,
      );
      ok = true;
    } finally {
      if (!ok) failures++;
      await c?.close(failures === 0);
    }
  },
});
