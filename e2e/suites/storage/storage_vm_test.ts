/**
 * Tier 3 storage suite (node.md §8, image.md §7): VM nodes booted from the signed image with
 * OVMF Secure Boot and swtpm, their data partitions on 4 GiB GPT partitions.
 *
 * 1. Per storage security, one bootstrap node: the first-use time (MountNew) is measured, and a
 *    marker label given in the bootstrap parameters (through fw_cfg, so it is on no disk unless
 *    the node writes it) lands in etcd on `/data`: a scan of the raw disk image finds it with
 *    INSECURE storage (which proves the scan) and not with ENCRYPTED storage.
 * 2. A two-node cluster with AUTHENTICATED_ENCRYPTED storage (node 0 bootstrap, node 1
 *    register): boot → HEALTHY times; (a) the marker and a label set through the management API
 *    are on no disk; (b) node 1 powers off and boots again: it unseals its configuration, gets
 *    its CUK through JoinNode, opens its data partition and is HEALTHY again as the same node,
 *    the label still there; (c) booted with OVMF VARS holding one more db certificate (PCR 7
 *    changes) it does not unseal and says why; (d) with one flipped byte in the ciphertext of
 *    its filesystem superblock (located with the dm-integrity layout) the read fails
 *    authentication: the kernel's AEAD error and the agent's MountExisting error, never a mount.
 * A deleted node not getting its CUK is checked by the core VM suite on its cluster.
 * Node 1 is the one rebooted: a single consensus member with encrypted storage cannot restart
 * on its own (its CUK is in its own etcd, node.md §7.4, §11.5).
 */
import assert from "node:assert/strict";
import { ClusterConfiguration_StorageSecurityPolicy as Policy } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { Node_Health } from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import {
  dataSectorOf,
  decodeIntegritySuperblock,
  INTEGRITY_SB_SECTORS,
  integrityInitialSectors,
  journalCopiesOf,
} from "../../../node/base/devicemapper/integrity_sb.ts";
import { DhcpServer } from "../../launch/dhcp.ts";
import { bridgeName, nodeAddress, nodeMac, Topology } from "../../launch/net.ts";
import { parseSubnet } from "../../launch/options.ts";
import {
  approveUntilHealthy,
  ClusterAPI,
  escrowOwner,
  type LaunchedCluster,
} from "../../launch/bringup.ts";
import { registerParameters } from "../../launch/params.ts";
import { flipByte, image, partitionOffset, SCALE } from "../boot/image.ts";
import { dataExtents, findInImage } from "./scan.ts";
import { bootstrapParams, DATA_MIB, nodeDisk, NodeVm } from "./vm_node.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
/** The storage suite's node network. */
const SUBNET = parseSubnet("10.1.55.0/24");
const log = (m: string) => console.log(`  storage: ${m}`);

const FIRST_USE =
  /data partition: \S+ \((\d+) MiB\) formatted (\w+) and mounted at \/data; first use took ([\d.]+) s/;
const ENROLLED = /Cluster enrolment done\./;
const JOINED = /joined the cluster as (metropolis-[0-9a-f]+)/;
const UNUSABLE = /sealed configuration present but unusable: .*/;
const AEAD_ERROR = /device-mapper: crypt: dm-\d+: INTEGRITY AEAD ERROR, sector \d+/;
const MOUNT_REFUSED = /MountExisting of \/data failed: data partition: authentication failed.*/;

/** `length` bytes at `offset` of `file`. */
async function readAt(file: string, offset: number, length: number): Promise<Uint8Array> {
  using f = await Deno.open(file, { read: true });
  await f.seek(offset, Deno.SeekMode.Start);
  const buf = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = await f.read(buf.subarray(got));
    if (n === null) throw new Error(`${file}: short read at ${offset + got}`);
    got += n;
  }
  return buf;
}

const marker = () => `mk${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
const enc = (s: string) => new TextEncoder().encode(s);

/** The suite's switch: bridge, TAPs for nodes 0..n-1 and DHCP reservations. */
async function withSwitch(n: number, fn: (taps: string[]) => Promise<void>): Promise<void> {
  const topo = new Topology(SUBNET, `/tmp/metropolis-launch-${bridgeName(SUBNET)}.lock`);
  await topo.up();
  let dhcp: DhcpServer | undefined;
  try {
    const taps: string[] = [];
    for (let i = 0; i < n; i++) taps.push(await topo.addTap(i));
    dhcp = DhcpServer.start(
      topo.bridge,
      SUBNET,
      new Map(taps.map((_, i) => [nodeMac(i), nodeAddress(SUBNET, i)])),
    );
    await fn(taps);
  } finally {
    await dhcp?.close();
    await topo.down();
  }
}

/** Runs `fn`, printing the consoles' tails when it fails, and stops every VM. */
async function withNodes(nodes: NodeVm[], fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    for (const n of nodes) {
      console.log(`console of ${n.name} (${n.vm?.consoleLog}):\n${n.console().slice(-4000)}`);
    }
    throw e;
  } finally {
    for (const n of nodes) await n.stop();
  }
}

const launched = (n: number): LaunchedCluster => ({
  stateDir: "/nonexistent",
  numNodes: n,
  socks: "", // the host is on the switch: direct dials
  nodeAddress: (i) => nodeAddress(SUBNET, i),
  log,
});

Deno.test("storage: the disk scan finds every occurrence in the data extents of a sparse image, none in holes", async () => {
  const dir = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "scan-test-" });
  try {
    const path = `${dir}/disk.img`;
    const needle = new TextEncoder().encode("marker-0123456789");
    const f = await Deno.open(path, { write: true, create: true });
    await f.truncate(1024 * 1024 * 1024); // 1 GiB, almost all hole
    // At the start, across the 8 MiB chunk boundary of a large extent, and far out.
    const at = [4096, 64 * 1024 * 1024 + 8 * 1024 * 1024 - 5, 900 * 1024 * 1024 + 17];
    await f.seek(64 * 1024 * 1024, Deno.SeekMode.Start);
    await f.write(new Uint8Array(16 * 1024 * 1024).fill(0x61));
    for (const o of at) {
      await f.seek(o, Deno.SeekMode.Start);
      await f.write(needle);
    }
    f.close();
    const extents = dataExtents(path);
    const bytes = extents.reduce((n, [a, b]) => n + b - a, 0);
    assert.ok(bytes < 64 * 1024 * 1024, `only data extents are read (${bytes} bytes)`);
    assert.deepEqual(await findInImage(path, needle), at);
    assert.deepEqual(await findInImage(path, new TextEncoder().encode("absent-marker")), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  "storage: INSECURE puts the marker on the disk in plain text, ENCRYPTED does not; first use per level",
  opts,
  async () => {
    const img = await image();
    await withSwitch(1, async ([tap]) => {
      for (
        const [policy, level, expectFound] of [
          [Policy.NEEDS_INSECURE, "INSECURE", true],
          [Policy.NEEDS_ENCRYPTION, "ENCRYPTED", false],
        ] as const
      ) {
        const name = `single-${level.toLowerCase()}`;
        const node = new NodeVm(img, name, 0, tap, await nodeDisk(img, name, DATA_MIB));
        const m = marker();
        await withNodes([node], async () => {
          const vm = await node.boot(await bootstrapParams(policy, { key: "marker", value: m }));
          const used = await vm.waitFor(FIRST_USE, 240_000 * SCALE);
          assert.equal(used.match[2], level);
          const done = await vm.waitFor(ENROLLED, 120_000 * SCALE);
          log(
            `${level}: first use of a ${used.match[1]} MiB data partition ${used.match[3]} s; ` +
              `qemu start → enrolment done ${(done.ms / 1000).toFixed(1)} s`,
          );
          // The bootstrap transaction (node record with the label) is committed and fsynced by
          // etcd before enrolment is done: the disk image file holds it now.
          const hits = await findInImage(node.disk, enc(m));
          if (expectFound) {
            assert.ok(hits.length > 0, `${level}: the marker is on the raw disk`);
            log(`${level}: marker found ${hits.length}× on the raw disk (the scan works)`);
          } else {
            assert.deepEqual(hits, [], `${level}: the marker is not on the raw disk`);
          }
        });
        await Deno.remove(node.disk);
      }
    });
  },
);

Deno.test(
  "storage: authenticated encryption on a 2-node VM cluster — hidden marker, reboot, PCR 7 change, flipped sector",
  opts,
  async () => {
    const img = await image();
    await withSwitch(2, async (taps) => {
      const n0 = new NodeVm(img, "auth-0", 0, taps[0], await nodeDisk(img, "auth-0", DATA_MIB));
      const n1 = new NodeVm(img, "auth-1", 1, taps[1], await nodeDisk(img, "auth-1", DATA_MIB));
      let api: ClusterAPI | undefined;
      await withNodes([n0, n1], async () => {
        const m0 = marker();
        const vm0 = await n0.boot(
          await bootstrapParams(Policy.NEEDS_ENCRYPTION_AND_AUTHENTICATION, {
            key: "marker",
            value: m0,
          }),
        );
        const used0 = await vm0.waitFor(FIRST_USE, 240_000 * SCALE);
        assert.equal(used0.match[2], "AUTHENTICATED_ENCRYPTED");
        log(
          `AUTHENTICATED_ENCRYPTED: first use of node 0's ${used0.match[1]} MiB data ` +
            `partition ${used0.match[3]} s`,
        );
        const owner = await escrowOwner(launched(1), 240_000 * SCALE);
        api = new ClusterAPI(launched(1), owner);
        await approveUntilHealthy(launched(1), api, 120_000 * SCALE);
        log(
          `node 0: qemu start → HEALTHY ${
            ((performance.now() - vm0.startedAt) / 1000).toFixed(1)
          } s`,
        );

        const ticket = (await api.management((m) => m.getRegisterTicket({}))).ticket;
        const info = await api.management((m) => m.getClusterInfo({}));
        const vm1 = await n1.boot(
          registerParameters(1, ticket, info.clusterDirectory!, info.caCertificate),
        );
        const used1 = await vm1.waitFor(FIRST_USE, 240_000 * SCALE);
        assert.equal(used1.match[2], "AUTHENTICATED_ENCRYPTED");
        const nodes = await approveUntilHealthy(launched(2), api, 240_000 * SCALE);
        log(
          `node 1: first use ${used1.match[3]} s; qemu start → HEALTHY ${
            ((performance.now() - vm1.startedAt) / 1000).toFixed(1)
          } s`,
        );
        const id1 = nodes.find((n) => n.labels?.pairs.some((p) => p.value === "1"))!.id;

        // (a) A label set through the management API, stored in node 0's etcd on its /data.
        const m1 = marker();
        await api.management((m) =>
          m.updateNodeLabels({
            node: { case: "id", value: id1 },
            upsert: [{ key: "marker", value: m1 }],
          })
        );
        for (const [disk, name] of [[n0.disk, "node 0"], [n1.disk, "node 1"]]) {
          for (const m of [m0, m1]) {
            assert.deepEqual(await findInImage(disk, enc(m)), [], `${m} is not on ${name}'s disk`);
          }
        }
        log("(a) markers not found on either raw disk");

        // (b) Power off node 1 and boot it again: it rejoins with its data.
        await n1.powerOff(nodeAddress(SUBNET, 1), id1, owner, 60_000 * SCALE);
        // The agent left the disk clean before reboot(2): unmounted, mappings removed.
        assert.match(
          n1.console(),
          /data partition: \/data unmounted, closed metropolis-data-crypt, metropolis-data-integrity/,
        );
        const rebooted = await n1.boot();
        const joined = await rebooted.waitFor(JOINED, 240_000 * SCALE);
        assert.equal(
          joined.match[1],
          id1,
          "node 1 rejoined as itself (its credentials are on /data)",
        );
        assert.match(rebooted.console(), /data partition: \S+ opened AUTHENTICATED_ENCRYPTED/);
        await approveUntilHealthy(launched(2), api, 120_000 * SCALE);
        log(
          `(b) node 1 rejoined: qemu start → joined ${(joined.ms / 1000).toFixed(1)} s, → HEALTHY ${
            ((performance.now() - rebooted.startedAt) / 1000).toFixed(1)
          } s`,
        );
        const again = (await api.nodes(`node.id == "${id1}"`))[0];
        assert.ok(again.labels?.pairs.some((p) => p.key === "marker" && p.value === m1));
        assert.equal(again.health, Node_Health.HEALTHY);

        // (c) PCR 7 changed: one more db certificate in the firmware's variables.
        await n1.powerOff(nodeAddress(SUBNET, 1), id1, owner, 60_000 * SCALE);
        const pcr = await n1.boot(undefined, img.ovmfVarsExtraDb!);
        const unusable = await pcr.waitFor(UNUSABLE, 240_000 * SCALE);
        log(`(c) ${unusable.match[0]}`);
        assert.match(unusable.match[0], /TPM_RC_POLICY_FAIL/);
        assert.doesNotMatch(pcr.console(), /data partition: .*(opened|formatted)/);
        await n1.stop();

        // (d) One flipped byte in the ciphertext of node 1's filesystem superblock (XFS block
        // 0): in its place in the data area and in every copy the dm-integrity journal holds
        // (the node powered off without suspending the device; the next activation replays
        // committed journal entries over the data area).
        const part = await partitionOffset(n1.disk, "METROPOLIS-NODE-DATA");
        const sb = decodeIntegritySuperblock(await readAt(n1.disk, part, 4096));
        assert.ok(sb, "node 1's data partition starts with a dm-integrity superblock");
        const journal = await readAt(
          n1.disk,
          part + INTEGRITY_SB_SECTORS * 512,
          (integrityInitialSectors(sb) - INTEGRITY_SB_SECTORS) * 512,
        );
        const copies = [dataSectorOf(sb, 0), ...journalCopiesOf(sb, journal, 0)];
        for (const sector of copies) await flipByte(n1.disk, part + sector * 512 + 100);
        log(
          `(d) flipped byte 100 of XFS block 0 at partition sectors ${copies.join(", ")} ` +
            `(data area, then journal copies)`,
        );
        const flipped = await n1.boot();
        const aead = await flipped.waitFor(AEAD_ERROR, 240_000 * SCALE);
        const refused = await flipped.waitFor(MOUNT_REFUSED, 60_000 * SCALE);
        log(`(d) kernel: ${aead.match[0]}`);
        log(`(d) agent: ${refused.match[0]}`);
        assert.match(refused.match[0], /EILSEQ: the sector failed authentication/);
        assert.doesNotMatch(flipped.console(), /opened AUTHENTICATED_ENCRYPTED and mounted/);
      });
      await api?.close();
    });
  },
);
