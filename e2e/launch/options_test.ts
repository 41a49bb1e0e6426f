/** Tier 1: launcher flag parsing, node sets, subnets, params and addressing. */
import assert from "node:assert/strict";
import { fromBinary } from "@bufbuild/protobuf";
import {
  defaultStateDir,
  parseFlags,
  parseNodeSet,
  parseSubnet,
  sizeMiB,
  UsageError,
} from "./options.ts";
import { bridgeName, hostVethName, netnsName, networkConfig, nodeAddress, nodeMac } from "./net.ts";
import { bootstrapParameters, encodeParameters, registerParameters } from "./params.ts";
import { NodeParametersSchema } from "../../proto/gen/metropolis/proto/api/configuration_pb.ts";
import { create } from "@bufbuild/protobuf";
import { ClusterDirectorySchema } from "../../proto/gen/metropolis/proto/common/common_pb.ts";
import { insecureOwnerPublicKey } from "./insecure_key.ts";

const usage = (args: string[], re: RegExp) =>
  assert.throws(() => parseFlags(args), (e) => e instanceof UsageError && re.test(e.message));

Deno.test("defaults match testing.md §2.5", () => {
  const o = parseFlags([]);
  assert.equal(o.mode, "namespace");
  assert.equal(o.numNodes, 3);
  assert.equal(o.clusterDomain, "cluster.internal");
  assert.equal(o.tpmMode, "required");
  assert.equal(o.storageSecurity, "needs-insecure");
  assert.equal(
    parseFlags([], { mode: "vm" }).storageSecurity,
    "needs-encryption-and-authentication",
    "VM nodes encrypt and authenticate their data unless told otherwise",
  );
  assert.equal(
    parseFlags(["--storage-security=needs-insecure"], { mode: "vm" }).storageSecurity,
    "needs-insecure",
  );
  assert.equal(o.tpm, "swtpm");
  assert.equal(o.storage, "loop");
  assert.equal(o.ram, "2048M");
  assert.equal(o.disk, "5G");
  assert.equal(o.cpu, 1);
  assert.equal(o.threadsPerCpu, 1);
  assert.equal(o.accel, "auto");
  assert.equal(o.variant, "full");
  assert.equal(o.image, undefined);
  assert.equal(o.subnet.cidr, "10.1.0.0/24");
  assert.equal(o.socksPort, undefined);
  assert.match(o.stateDir, new RegExp(`/metropolis-launch-${Deno.pid}$`));
  assert.equal(o.keep, false);
  assert.equal(o.console, false);
  assert.deepEqual(o.consensusMember, []);
});

Deno.test("flag forms: --a b, --a=b, switches, node sets, storage default", () => {
  const o = parseFlags([
    "--num-nodes",
    "6",
    "--kubernetes-worker=0,3-5",
    "--consensus-member",
    "2,0,1-2",
    "--keep",
    "--console=false",
    "--tpm",
    "none",
    "--tpm-mode=disabled",
    "--subnet",
    "10.1.7.0/24",
    "--socks-port=1190",
  ]);
  assert.equal(o.numNodes, 6);
  assert.deepEqual(o.kubernetesWorker, [0, 3, 4, 5]);
  assert.deepEqual(o.consensusMember, [0, 1, 2]);
  assert.equal(o.storage, "loop", "storage defaults to loop (any node may become a worker)");
  assert.equal(o.keep, true);
  assert.equal(o.console, false);
  assert.equal(o.subnet.index, 7);
  assert.equal(o.socksPort, 1190);
  // --nodes is another spelling of --num-nodes; both at once is a repeated flag.
  assert.equal(parseFlags(["--nodes", "5"]).numNodes, 5);
  assert.equal(parseFlags(["--nodes=2"]).numNodes, 2);
  usage(["--nodes=2", "--num-nodes=3"], /--num-nodes given twice/);
});

Deno.test("bad input: one-line UsageErrors naming the flag", () => {
  usage(["--frobnicate"], /^unknown flag --frobnicate$/);
  usage(["--num-nodes"], /--num-nodes needs a value/);
  usage(["--num-nodes", "0"], /--num-nodes/);
  usage(["--num-nodes", "254"], /--num-nodes/);
  usage(["--num-nodes", "x"], /--num-nodes/);
  usage(["--num-nodes=2", "--consensus-member=0-2"], /node 2 does not exist \(--num-nodes 2\)/);
  usage(["--kubernetes-worker=2-1"], /--kubernetes-worker: range 2-1 ends before it starts/);
  usage(["--kubernetes-controller=a"], /--kubernetes-controller: bad node set element/);
  usage(
    ["--tpm", "none", "--tpm-mode", "required"],
    /--tpm none cannot satisfy --tpm-mode required/,
  );
  usage(["--tpm-mode", "sometimes"], /--tpm-mode/);
  usage(["--subnet", "10.1.0.0/16"], /--subnet: expected a \/24/);
  usage(["--ram", "2048"], /--ram/);
  usage(["--keep=yes"], /--keep: expected true or false/);
  usage(["positional"], /unexpected argument/);
  usage(["--keep", "--keep"], /--keep given twice/);
  usage(["--cluster-domain", "Bad_Domain"], /--cluster-domain/);
  for (const args of [["--frobnicate"], ["--num-nodes", "0"]]) {
    try {
      parseFlags(args);
    } catch (e) {
      assert.ok(!(e as Error).message.includes("\n"), "one line");
    }
  }
});

Deno.test("node sets", () => {
  assert.deepEqual(parseNodeSet("x", "", 3), []);
  assert.deepEqual(parseNodeSet("x", "0", 3), [0]);
  assert.deepEqual(parseNodeSet("x", "2,0-1", 3), [0, 1, 2]);
  assert.throws(() => parseNodeSet("x", "3", 3), /node 3 does not exist/);
  assert.throws(() => parseNodeSet("x", "1-", 3), /bad node set element/);
});

Deno.test("addressing: bridge, netns, veth, MAC, address", () => {
  const s = parseSubnet("10.1.7.0/24");
  assert.equal(bridgeName(s), "metro7");
  assert.equal(netnsName("metro7", 3), "metro-metro7-3");
  assert.equal(hostVethName("metro255", 252), "metro255v252");
  assert.ok(hostVethName("metro255", 252).length <= 15);
  assert.equal(nodeMac(0), "52:54:00:01:00:02");
  assert.equal(nodeMac(14), "52:54:00:01:00:10");
  assert.equal(nodeMac(252), "52:54:00:01:00:fe");
  assert.equal(nodeAddress(s, 0), "10.1.7.2");
  assert.equal(nodeAddress(s, 252), "10.1.7.254");
  assert.throws(() => nodeAddress(s, 253), /out of range/);
  assert.throws(() => parseSubnet("10.1.300.0/24"), /--subnet/);
});

Deno.test("NodeParameters: bootstrap for node 0, register for others, network config", async () => {
  const o = parseFlags(["--tpm-mode=disabled", "--cluster-domain=cluster.test"]);
  const net = networkConfig(o.subnet, 1);
  const boot = fromBinary(
    NodeParametersSchema,
    encodeParameters(await bootstrapParameters(o, networkConfig(o.subnet, 0))),
  );
  assert.equal(boot.cluster.case, "clusterBootstrap");
  const b = boot.cluster.value!;
  assert.deepEqual(b.ownerPublicKey, await insecureOwnerPublicKey());
  assert.equal(b.ownerPublicKey.length, 32);
  assert.equal(b.initialClusterConfiguration?.clusterDomain, "cluster.test");
  assert.equal(b.initialClusterConfiguration?.tpmMode, 3);
  assert.equal(b.initialClusterConfiguration?.storageSecurityPolicy, 4);
  assert.deepEqual(
    b.initialClusterConfiguration?.kubernetes?.nodeLabelsToSynchronize.map((r) => r.regexp),
    ["^test-"],
  );
  assert.deepEqual(b.labels?.pairs.map((p) => [p.key, p.value]), [["test-node-number", "0"]]);
  const iface = boot.networkConfig!.interface[0];
  assert.equal(iface.name, "eth0");
  assert.equal(iface.type.case, "device");
  assert.equal(iface.type.value?.hardwareAddress, "52:54:00:01:00:02");
  assert.deepEqual(iface.address, ["10.1.0.2/24"]);
  assert.deepEqual(iface.route.map((r) => [r.destination, r.gatewayIp]), [[
    "0.0.0.0/0",
    "10.1.0.1",
  ]]);
  const reg = fromBinary(
    NodeParametersSchema,
    encodeParameters(
      registerParameters(
        2,
        new Uint8Array([1, 2]),
        create(ClusterDirectorySchema),
        new Uint8Array([3]),
        net,
      ),
    ),
  );
  assert.equal(reg.cluster.case, "clusterRegister");
  assert.deepEqual(reg.cluster.value!.registerTicket, new Uint8Array([1, 2]));
  assert.deepEqual(reg.cluster.value!.labels?.pairs[0].value, "2");
  assert.deepEqual(reg.networkConfig!.interface[0].address, ["10.1.0.3/24"]);
});

Deno.test("--keep-state: needs --state-dir, refuses flags that shape a new cluster", () => {
  const o = parseFlags(["--keep-state", "--state-dir", "/tmp/kept"]);
  assert.equal(o.keepState, true);
  assert.equal(o.stateDir, "/tmp/kept");
  assert.equal(parseFlags([]).keepState, false);
  usage(["--keep-state"], /^--keep-state needs --state-dir <dir>/);
  usage(["--keep-state", "--state-dir=/k", "--num-nodes=2"], /^--num-nodes: not with --keep-state/);
  usage(["--keep-state", "--state-dir=/k", "--subnet=10.1.9.0/24"], /^--subnet: not with/);
  // Flags about this run only are fine.
  const c = parseFlags(["--keep-state", "--state-dir=/k", "--console", "--socks-port=1999"]);
  assert.equal(c.console, true);
  assert.equal(c.socksPort, 1999);
});

Deno.test("--mode: the entry point's default (VMs for bazel run), the flag overrides it", () => {
  assert.equal(parseFlags([], { mode: "vm" }).mode, "vm");
  assert.equal(parseFlags(["--mode", "namespace"], { mode: "vm" }).mode, "namespace");
  assert.equal(parseFlags(["--mode=vm"]).mode, "vm");
  usage(["--mode=kvm"], /^--mode: /);
  // The default is not a given flag: --keep-state takes the mode from the kept cluster.
  assert.equal(parseFlags(["--keep-state", "--state-dir=/k"], { mode: "vm" }).keepState, true);
  usage(["--keep-state", "--state-dir=/k", "--mode=vm"], /^--mode: not with --keep-state/);
  usage(["--keep-state", "--state-dir=/k", "--disk=8G"], /^--disk: not with --keep-state/);
  usage(["--mode=vm", "--boot=direct"], /^--boot direct: not supported for launcher clusters/);
});

Deno.test("VM sizes: --ram and --disk in MiB, bad suffixes refused", () => {
  const o = parseFlags(["--mode=vm", "--ram=3G", "--disk=12G", "--variant=core", "--image=/i"]);
  assert.equal(sizeMiB(o.ram), 3072);
  assert.equal(sizeMiB(o.disk), 12288);
  assert.equal(sizeMiB("1T"), 1024 * 1024);
  assert.equal(sizeMiB("2048M"), 2048);
  assert.equal(o.variant, "core");
  assert.equal(o.image, "/i");
  usage(["--ram=2T"], /^--ram: expected a number with suffix MG/);
  usage(["--disk=5"], /^--disk: expected a number with suffix MGT/);
  assert.throws(() => sizeMiB("0G"), UsageError);
});

Deno.test("default state dir: a directory an earlier launch kept is not reused", async () => {
  const tmp = await Deno.makeTempDir();
  const old = Deno.env.get("XDG_RUNTIME_DIR");
  Deno.env.set("XDG_RUNTIME_DIR", tmp);
  try {
    const first = defaultStateDir();
    assert.equal(first, `${tmp}/metropolis-launch-${Deno.pid}`);
    await Deno.mkdir(first);
    assert.equal(defaultStateDir(), `${first}.2`);
    await Deno.mkdir(`${first}.2`);
    assert.equal(defaultStateDir(), `${first}.3`);
  } finally {
    if (old === undefined) Deno.env.delete("XDG_RUNTIME_DIR");
    else Deno.env.set("XDG_RUNTIME_DIR", old);
    await Deno.remove(tmp, { recursive: true });
  }
});
