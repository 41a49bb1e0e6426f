/**
 * `launchCluster(options) → Cluster` (testing.md §2): switch (bridge, namespaces, DHCP, SOCKS5),
 * namespace node processes and teardown. The cluster bring-up steps of §2.4 that need the agent's
 * API (escrow, register ticket, approval) are the marked EXTENSION POINTS {@link bootstrapCluster}
 * and {@link waitForNodes}; parameters come from params.ts ({@link bootstrapParameters},
 * {@link registerParameters}).
 * @module
 */
import { buildInit } from "../../os-image/init/build.ts";
import { ensureAgentBundle } from "../../os-image/tools/bundle.ts";
import type { NodeParameters } from "../../proto/gen/metropolis/proto/api/configuration_pb.ts";
import type { ClusterDirectory } from "../../proto/gen/metropolis/proto/common/common_pb.ts";
import { type LaunchOptions, sizeMiB } from "./options.ts";
import { bridgeName, netnsName, nodeAddress, nodeMac, Topology } from "./net.ts";
import { NamespaceNode } from "./node.ts";
import type { ClusterNode, NodeExit } from "./cluster_node.ts";
import { VmNode } from "./vm/node.ts";
import { blankDisk, DiskMaker } from "./vm/disk.ts";
import { type NodeImage, nodeImage } from "./vm/image.ts";
import { detectAccel } from "./vm/accel.ts";
import { coldStartBlocker, resumeOptions, writeLaunchRecord } from "./kept.ts";
import { NodeDialer, SwitchSocks } from "./socks.ts";
import { DhcpServer } from "./dhcp.ts";
import { preparePayloads } from "./payloads.ts";
import { BIN } from "../../node/kubernetes/paths.ts";
import { buildKube } from "../../node/kubernetes/hyperkube/build.ts";
import { removeCgroupEverywhere, restoreSysctls, saveSysctls } from "./hoststate.ts";
import {
  bootstrapParameters,
  networkOnlyParameters,
  NODE_NUMBER_LABEL,
  registerParameters,
} from "./params.ts";
import { Node_Health } from "../../proto/gen/metropolis/proto/api/management_pb.ts";
import {
  approveUntilHealthy,
  BRINGUP_POLL_MS,
  ClusterAPI,
  escrowOwner,
  KUBE_CONTEXT,
  type LaunchedCluster,
  listNodes,
  makeConsensusMember,
  readMetroctlDir,
  writeKubectl,
  writeMetroctlDir,
  writeWrapper,
} from "./bringup.ts";

export { bootstrapParameters, registerParameters };

/** What node 0's cluster gives the other nodes to register (§2.4 step 4). */
export interface RegisterInfo {
  /** From `GetRegisterTicket`. */
  ticket: Uint8Array;
  /** From `GetClusterInfo`. */
  directory: ClusterDirectory;
  /** Cluster CA certificate, DER. */
  caCertificate: Uint8Array;
}

/**
 * Optional observer of the bring-up steps (formation bench): called with a phase name when the
 * launcher passes it ("switch ready", "node 0 started", "nodes started", "owner escrowed",
 * "node 0 UP", "register info", "parameters written", "all UP and HEALTHY", "launched"; a VM
 * cluster starts its other nodes after "register info"). No behaviour change.
 */
export type PhaseHook = (phase: string, c: Cluster) => void;

/**
 * How long bring-up waits for node 0's curator (escrow) and then for every node to be UP and
 * HEALTHY: namespace nodes start in seconds; VMs under TCG take ≈ 18 s to `/init` and the agent
 * runs several times slower than on the host. `escrowAttempt` is one Escrow call's deadline (on a
 * TCG VM the TLS handshake through SOCKS5 and the curator's answer alone can take over 10 s).
 */
export const BRINGUP_TIMEOUTS_MS = {
  namespace: { escrow: 120_000, escrowAttempt: 10_000, healthy: 300_000 },
  vm: { escrow: 900_000, escrowAttempt: 30_000, healthy: 900_000 },
} as const;

/** The enrolment line of a node that registers (a node with a sealed configuration joins). */
const REREGISTERED = /registering into the cluster as /;

/** Console text written after byte `offset` (a console log's size before a boot). */
export async function consoleSince(path: string, offset = 0): Promise<string> {
  try {
    return new TextDecoder().decode((await Deno.readFile(path)).subarray(offset));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return ""; // not started yet
    throw e;
  }
}

/** A running launcher cluster; always {@link close} it. */
export class Cluster {
  /** Namespace node processes by index (`--mode namespace`; empty for a VM cluster). */
  readonly nodes: NamespaceNode[] = [];
  /** VM nodes by index (`--mode vm`; empty for a namespace cluster). */
  readonly vms: VmNode[] = [];
  /** Dials nodes through the switch's SOCKS5 (one loopback relay per target). */
  readonly dialer: NodeDialer;
  readonly #createdStateDir: boolean;
  #closed?: Promise<void>;
  /** Owner access to the cluster API (set by {@link bootstrapCluster}). */
  api?: ClusterAPI;
  /** Keep the state directory at close (a failed test sets this). */
  keepState = false;
  readonly #signals: [Deno.Signal, () => void][] = [];
  /** Host sysctls as before the nodes started (kubelets of workers change them). */
  #sysctls?: Map<string, string>;
  /** The Kubernetes payload directory every node binds (undefined with a stand-in agent). */
  payloads?: string;
  /** VM clusters: the variant of the image the nodes were made from (undefined: kept cluster). */
  imageVariant?: "core" | "full";
  /** Agent crashes seen (each also restarts its node unless `--allow-reboot=false`). */
  crashes = 0;
  /** Node IDs seen, for removing their kubelet cgroup roots at teardown. */
  readonly knownNodeIds = new Set<string>();

  private constructor(
    readonly options: LaunchOptions,
    readonly topology: Topology,
    readonly socks: SwitchSocks,
    readonly dhcp: DhcpServer,
    createdStateDir: boolean,
  ) {
    this.dialer = new NodeDialer(socks.address);
    this.#createdStateDir = createdStateDir;
  }

  /** Every node by index, whatever kind ({@link nodes} or {@link vms}). */
  get allNodes(): ClusterNode[] {
    return this.options.mode === "vm" ? this.vms : this.nodes;
  }

  /** The state directory (node state, logs, metroctl directory). */
  get stateDir(): string {
    return this.options.stateDir;
  }

  /** `launch: …` progress line (unless `progress: false`). */
  log(msg: string): void {
    if (this.options.progress === false) return;
    try {
      Deno.stdout.writeSync(new TextEncoder().encode(`launch: ${msg}\n`));
    } catch {
      // stdout is gone (closed pipe): progress lines must never stop a teardown.
    }
  }

  /**
   * Creates the switch (lock, bridge, one namespace + veth per node, SOCKS5) and the node objects
   * (not started). Installs SIGINT/SIGTERM handlers that close the cluster and exit 130/143.
   */
  static async create(options: LaunchOptions): Promise<Cluster> {
    if (Deno.uid() !== 0) {
      throw new Error("the launcher needs root (bridge, veths/TAPs, namespaces)");
    }
    const stateDir = options.stateDir;
    if (!stateDir.startsWith("/")) throw new Error(`--state-dir must be absolute: ${stateDir}`);
    let created = false;
    try {
      await Deno.stat(stateDir);
    } catch {
      await Deno.mkdir(stateDir, { recursive: true });
      created = true;
    }
    const parent = stateDir.replace(/\/[^/]+\/?$/, "") || "/";
    const lockPath = `${parent}/metropolis-launch-${bridgeName(options.subnet)}.lock`;
    const topo = new Topology(options.subnet, lockPath);
    let socks: SwitchSocks | undefined;
    let dhcp: DhcpServer | undefined;
    try {
      await topo.up();
      socks = await SwitchSocks.start({ subnet: options.subnet, port: options.socksPort });
      const reserved = new Map<string, string>();
      for (let i = 0; i < options.numNodes; i++) {
        reserved.set(nodeMac(i), nodeAddress(options.subnet, i));
      }
      dhcp = DhcpServer.start(topo.bridge, options.subnet, reserved);
    } catch (e) {
      await socks?.close();
      await topo.down();
      if (created && !options.keep) await Deno.remove(stateDir, { recursive: true });
      throw e;
    }
    const c = new Cluster(options, topo, socks, dhcp, created);
    c.#sysctls = await saveSysctls();
    c.#installSignalHandlers();
    try {
      c.log(`bridge ${topo.bridge} ${topo.gateway}/24, DHCP on it, SOCKS5 on ${socks.address}`);
      if (options.mode === "vm") await c.#addVmNodes();
      else await c.#addNamespaceNodes();
    } catch (e) {
      await c.close();
      throw e;
    }
    return c;
  }

  /** Namespace nodes: `/init`, the agent bundle, the payloads, one namespace + veth per node. */
  async #addNamespaceNodes(): Promise<void> {
    const options = this.options;
    const topo = this.topology;
    // A stand-in replaces the agent; otherwise the nodes run dist/agent.js, rebuilt when stale.
    const [init, , payloads] = await Promise.all([
      buildInit(),
      options.agentCommand ? undefined : ensureAgentBundle(undefined, (l) => this.log(l)),
      options.agentCommand ? undefined : preparePayloads(this.stateDir, (l) => this.log(l)),
    ]);
    this.payloads = payloads;
    for (let i = 0; i < options.numNodes; i++) {
      // The agent gets its reserved address from the switch's DHCP server; a stand-in has no
      // network service, so the launcher configures its address itself.
      const netns = await topo.addNode(i, options.staticAddresses ?? !!options.agentCommand);
      this.nodes.push(
        new NamespaceNode({
          index: i,
          dir: `${this.stateDir}/nodes/${i}`,
          netns,
          init,
          tpm: options.tpm === "swtpm",
          allowReboot: options.allowReboot,
          echo: options.console,
          agentCommand: options.agentCommand,
          storage: options.storage,
          payloads,
          privateRuntime: options.privateRuntime,
          onExit: (exit) => this.#reportExit(i, exit),
        }),
      );
    }
    const last = netnsName(topo.bridge, options.numNodes - 1);
    this.log(
      `namespaces ${netnsName(topo.bridge, 0)}${options.numNodes > 1 ? `…${last}` : ""} ready`,
    );
  }

  /**
   * VM nodes (testing.md §2.3): the accelerator, one TAP per node on the bridge, and — for a new
   * cluster — the image and the template disk every node disk is copied from. A kept cluster
   * boots its nodes' own disks and needs no image.
   */
  async #addVmNodes(): Promise<void> {
    const o = this.options;
    if (o.agentCommand) throw new Error("agentCommand stand-ins run in namespace nodes only");
    const accel = o.accel === "auto" ? await detectAccel() : o.accel;
    let image: Promise<NodeImage> | undefined;
    const img = () =>
      image ??= nodeImage(o, (l) => this.log(l)).then((i) => {
        this.imageVariant = i.variant;
        return i;
      });
    const disks = new DiskMaker(img, sizeMiB(o.disk), this.stateDir);
    if (o.blankDisks) {
      // Only the VARS come from the image; installer media write the disks.
      await img();
      this.log(`node disks: empty ${o.disk} disks, to be installed from installer media`);
    } else if (!o.keepState) {
      // Image and disk template now, so node 0 boots as soon as the switch is up.
      await img();
      const started = performance.now();
      await disks.template();
      this.log(
        `node disks: ${o.disk} GPT images, sparse copies of ${disks.templatePath} ` +
          `(written in ${((performance.now() - started) / 1000).toFixed(1)} s)`,
      );
    }
    for (let i = 0; i < o.numNodes; i++) {
      const tap = await this.topology.addTap(i);
      this.vms.push(
        new VmNode({
          index: i,
          dir: `${this.stateDir}/nodes/${i}`,
          makeDisk: (p) => o.blankDisks ? blankDisk(p, sizeMiB(o.disk)) : disks.make(p),
          makeVars: async (p) => await Deno.copyFile((await img()).vars, p),
          tap,
          mac: nodeMac(i),
          ramMiB: sizeMiB(o.ram),
          cpus: o.cpu,
          threads: o.threadsPerCpu,
          accel,
          tpm: o.tpm === "swtpm",
          allowReboot: o.allowReboot,
          echo: o.console,
          onExit: (exit) => this.#reportExit(i, exit),
          onMilestone: (what, secs) => this.log(`node ${i}: ${what} (${secs.toFixed(1)} s)`),
        }),
      );
    }
    this.log(
      `${o.numNodes} VM(s) ${accel.toUpperCase()}, ${o.ram} RAM, ${o.cpu}×${o.threadsPerCpu} ` +
        `vCPU, TAPs ${this.topology.bridge}t0…${o.numNodes - 1}, Secure Boot` +
        (o.tpm === "swtpm" ? " + swtpm" : ""),
    );
  }

  #installSignalHandlers() {
    // SIGHUP too: a closed terminal (or `… | tee` whose reader went away) must not leave the
    // bridge, veths, namespaces and loop devices behind.
    for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const) {
      const h = () => {
        this.log(`${sig}: tearing down`);
        this.close().finally(() => Deno.exit(code));
      };
      Deno.addSignalListener(sig, h);
      this.#signals.push([sig, h]);
    }
  }

  #reportExit(i: number, exit: NodeExit) {
    // `/init` reboots the node when the agent itself ended (crash, abort, unexpected exit); a
    // reboot the agent asked for goes through its power hook instead (`pid1: reboot (…)`).
    const crash = exit.tail.map((l) => /init: agent exited: (.*)$/.exec(l)?.[1]).find((x) => x);
    if (crash) {
      this.crashes++;
      this.log(`node ${i}: agent crashed (${crash}); crashes so far: ${this.crashes}`);
    }
    if (exit.restarting) {
      this.log(`node ${i} rebooting (${exit.description})`);
      return;
    }
    const lines = exit.tail.map((l) => `  [n${i}] ${l}`).join("\n");
    this.log(`node ${i} ended: ${exit.description}; last console lines:\n${lines}`);
  }

  /** Address of node `i` (`<prefix>.(i+2)`). */
  nodeAddress(i: number): string {
    return nodeAddress(this.options.subnet, i);
  }

  #node(i: number): ClusterNode {
    const n = this.allNodes[i];
    if (!n) throw new Error(`node ${i} does not exist (${this.allNodes.length} nodes)`);
    return n;
  }

  /**
   * Starts node `i`. With `params` the ESP's `parameters.pb` is (re)written first (without a
   * network_config the node uses DHCP); without, the node boots on its existing state (restart
   * after {@link shutdownNode}).
   */
  async startNode(i: number, params?: NodeParameters): Promise<void> {
    const n = this.#node(i);
    if (params) {
      await n.prepare(params);
    }
    await n.start();
    this.log(`node ${i} (${this.nodeAddress(i)}) started, console ${n.consolePath}`);
  }

  /**
   * Powers VM node `i` on with the installer medium `medium` attached for this boot only (a
   * `blankDisks` cluster): the installer writes the node's disk and reboots, and the node then
   * boots from its disk with the medium's parameters (image.md §11).
   */
  async startNodeFrom(i: number, medium: string): Promise<void> {
    const n = this.vms[i];
    if (!n) throw new Error(`VM node ${i} does not exist (${this.vms.length} VM nodes)`);
    await n.prepare();
    n.insertMedium(medium);
    await n.start();
    this.log(`node ${i} (${this.nodeAddress(i)}) started from ${medium}, console ${n.consolePath}`);
  }

  /** Stops node `i` (SIGTERM, SIGKILL after 5 s); its state stays. */
  async shutdownNode(i: number): Promise<void> {
    await this.#node(i).stop();
  }

  /** Kills node `i` at once (its whole PID namespace). */
  async killNode(i: number): Promise<void> {
    await this.#node(i).kill();
  }

  /** `127.0.0.1:<port>` reaching `target` (`host:port`, host may be a node ID) via SOCKS5. */
  async dialNode(target: string): Promise<string> {
    return await this.dialer.address(target);
  }

  /**
   * Tears everything down: node processes, relays, SOCKS5, namespaces, veths, bridge, lock and —
   * when the launcher created it and `keep` is off — the state directory. Idempotent.
   */
  close(ok = true): Promise<void> {
    if (!ok) this.keepState = true;
    this.#closed ??= this.#close();
    return this.#closed;
  }

  /** The bring-up view of this cluster. */
  get launched(): LaunchedCluster {
    return {
      stateDir: this.stateDir,
      numNodes: this.allNodes.length,
      socks: this.socks.address,
      nodeAddress: (i) => this.nodeAddress(i),
      log: (m) => this.log(m),
    };
  }

  /**
   * The host's `kube` binary for the kubectl wrapper: the payloads' link on namespace clusters;
   * for VMs the cached build the full image carries (built if missing), none for a core image.
   */
  async hostKube(): Promise<string | undefined> {
    if (this.payloads) return `${this.payloads}${BIN.kube}`;
    if (this.options.mode !== "vm" || this.imageVariant === "core") return undefined;
    return await buildKube();
  }

  /** Node IDs by node index (from the `test-node-number` label). */
  async nodeIds(): Promise<string[]> {
    const ids: string[] = [];
    for (const n of await this.api!.nodes()) {
      this.knownNodeIds.add(n.id);
      const num = n.labels?.pairs.find((p) => p.key === NODE_NUMBER_LABEL)?.value;
      if (num !== undefined) ids[Number(num)] = n.id;
    }
    return ids;
  }

  /**
   * Restarts node `i` on its state (a VM: power cycle) and waits until it rejoined: a heartbeat
   * newer than the restart and HEALTHY (testing.md §2.4); throws after `timeoutMs`.
   */
  async rebootNode(
    i: number,
    timeoutMs: number = BRINGUP_TIMEOUTS_MS[this.options.mode].healthy,
  ): Promise<void> {
    const id = (await this.nodeIds())[i];
    if (!id) throw new Error(`node ${i} has no node ID yet`);
    const consolePath = this.#node(i).consolePath;
    await this.killNode(i);
    const consoleBefore = (await Deno.stat(consolePath)).size;
    const restarted = Date.now();
    await this.startNode(i);
    for (;;) {
      if (Date.now() - restarted > timeoutMs) {
        throw new Error(`node ${i} did not rejoin within ${timeoutMs / 1000} s of its restart`);
      }
      // A node that lost its sealed configuration registers as a new node and waits for an
      // approval that never comes: say so at once instead of after the timeout.
      if (REREGISTERED.test(await consoleSince(consolePath, consoleBefore))) {
        throw new Error(
          `node ${i} registered again as a new node after its restart: its sealed configuration ` +
            `did not survive (console ${consolePath})`,
        );
      }
      try {
        const n = (await this.api!.nodes(`node.id == "${id}"`))[0];
        const since = n?.timeSinceHeartbeat;
        const ageMs = since ? Number(since.seconds) * 1000 + since.nanos / 1e6 : Infinity;
        if (n && n.health === Node_Health.HEALTHY && Date.now() - ageMs > restarted) {
          this.log(`node ${i} rejoined after ${((Date.now() - restarted) / 1000).toFixed(1)} s`);
          return;
        }
      } catch { /* leader may be moving */ }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  async #close(): Promise<void> {
    for (const [sig, h] of this.#signals) Deno.removeSignalListener(sig, h);
    // Every step runs even if an earlier one failed; the first error is rethrown at the end.
    const errors: unknown[] = [];
    const step = async (fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (e) {
        errors.push(e);
      }
    };
    await step(() => Promise.all(this.allNodes.map((n) => n.close())));
    // Nodes left their cgroup roots in the host's hierarchies (their own groups, the kubelets'
    // pods) and workers changed host-global sysctls (the processes died with the PID namespaces).
    for (const id of this.knownNodeIds) {
      await step(() => removeCgroupEverywhere(`metropolis-${id}`));
    }
    if (this.#sysctls) await step(() => restoreSysctls(this.#sysctls!));
    await step(() => this.dialer.close());
    await step(() => this.socks.close());
    await step(() => this.dhcp.close());
    await step(() => this.topology.down());
    await step(async () => await this.api?.close());
    if (this.options.keep || this.keepState || errors.length) {
      const blocker = coldStartBlocker(this.options.mode, this.options.storageSecurity);
      this.log(
        `state kept in ${this.stateDir}` +
          (blocker ? ` (for inspection only: --keep-state cannot start it again: ${blocker})` : ""),
      );
    } else if (this.#createdStateDir) {
      await step(() => Deno.remove(this.stateDir, { recursive: true }));
    }
    if (errors.length) {
      this.log(`teardown incomplete: ${(errors[0] as Error).message}`);
      throw errors[0];
    }
    this.log("torn down");
  }
}

/**
 * §2.4 steps 2–4: escrow the owner certificate from node 0 (through SOCKS5, retrying while its
 * curator comes up), write `<state>/metroctl/`, wait until node 0 reports its address, then
 * `GetRegisterTicket` and `GetClusterInfo` for the other nodes.
 */
export async function bootstrapCluster(c: Cluster, onPhase?: PhaseHook): Promise<RegisterInfo> {
  const started = performance.now();
  const t = BRINGUP_TIMEOUTS_MS[c.options.mode];
  const pollMs = BRINGUP_POLL_MS[c.options.mode];
  const owner = await escrowOwner(c.launched, t.escrow, t.escrowAttempt, pollMs);
  await writeMetroctlDir(c.stateDir, owner);
  c.api = new ClusterAPI(c.launched, owner);
  onPhase?.("owner escrowed", c);
  c.log(
    `node 0 serving, owner escrowed after ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  // One client for these calls: a TLS connection through SOCKS5 costs more than the period.
  return await c.api.management(async (m) => {
    for (;;) {
      const n0 = (await listNodes(m).catch(() => []))[0];
      if (n0?.status?.externalAddress) {
        c.socks.table.set(n0.id, n0.status.externalAddress);
        c.log(`node 0 (${n0.status.externalAddress}) UP as ${n0.id}`);
        onPhase?.("node 0 UP", c);
        break;
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
    // Independent reads: one round trip instead of two.
    const [{ ticket }, info] = await Promise.all([
      m.getRegisterTicket({}),
      m.getClusterInfo({}),
    ]);
    onPhase?.("register info", c);
    return {
      ticket,
      directory: info.clusterDirectory!,
      caCertificate: info.caCertificate,
    };
  });
}

/**
 * §2.4 steps 5–6: approve NEW nodes ({@link approveUntilHealthy}) until all are UP and HEALTHY,
 * apply the role flags, write the metroctl wrapper and print the result lines (§2.6).
 */
export async function waitForNodes(
  c: Cluster,
  started: number,
  onPhase?: PhaseHook,
): Promise<void> {
  const api = c.api!;
  const nodes = await approveUntilHealthy(
    c.launched,
    api,
    BRINGUP_TIMEOUTS_MS[c.options.mode].healthy,
    started,
    BRINGUP_POLL_MS[c.options.mode],
  );
  onPhase?.("all UP and HEALTHY", c);
  for (const n of nodes) {
    if (n.status?.externalAddress) c.socks.table.set(n.id, n.status.externalAddress);
  }
  const ids = await c.nodeIds();
  for (const i of c.options.consensusMember) {
    c.log(`making node ${i} a ConsensusMember`);
    await makeConsensusMember(api, ids[i]);
  }
  for (
    const [flag, field] of [
      ["kubernetesController", "kubernetesController"],
      ["kubernetesWorker", "kubernetesWorker"],
    ] as const
  ) {
    for (const i of c.options[flag]) {
      c.log(`granting ${field} to node ${i}`);
      await api.management((m) =>
        m.updateNodeRoles({ node: { case: "id", value: ids[i] }, [field]: true })
      );
    }
  }
  const endpoints = Array.from({ length: c.allNodes.length }, (_, i) => c.nodeAddress(i));
  const w = await writeWrapper(c.stateDir, c.socks.address, endpoints);
  // kubectl talks to the authproxy of a KubernetesController (node 0 holds the role from the
  // bootstrap on); the context is written whether or not Kubernetes is already serving.
  const controller = (await api.nodes("has(node.roles.kubernetes_controller)"))
    .find((n) => n.status?.externalAddress);
  const kube = controller ? await c.hostKube() : undefined;
  const k = controller && kube
    ? await writeKubectl({
      stateDir: c.stateDir,
      socks: c.socks.address,
      endpoints,
      controller: { id: controller.id, address: controller.status!.externalAddress },
      ca: api.owner.caCertificate,
      kube,
      userKubeconfig: c.options.userKubeconfig,
    })
    : undefined;
  console.log(); // separates the progress lines from the result (testing.md §2.6)
  console.log("Launch: Cluster running!");
  console.log(`  To access cluster use: metroctl ${w.flags}`);
  console.log(`  Or use this handy wrapper: ${w.path}`);
  if (k) {
    console.log(`  To access Kubernetes, use kubectl --context=${KUBE_CONTEXT}`);
    console.log(`  Or use this handy wrapper: ${k.wrapper}`);
  } else if (controller) {
    console.log("  Kubernetes: not in the core image (no kubectl wrapper)");
  } else {
    console.log("  Kubernetes: no node holds KubernetesController");
  }
}

/**
 * Launches a cluster (§2.4): switch and namespaces, node 0 with bootstrap parameters, namespace
 * nodes 1…n−1 without parameters (they boot and wait), {@link bootstrapCluster}, the register
 * parameters for nodes 1…n−1 (VMs start only now, with them), {@link waitForNodes}. On any
 * failure everything is torn down before the error is rethrown. `onPhase` observes the steps
 * ({@link PhaseHook}).
 */
export async function launchCluster(
  options: LaunchOptions,
  onPhase?: PhaseHook,
): Promise<Cluster> {
  if (options.keepState) return await resumeCluster(options);
  const start = performance.now();
  const c = await Cluster.create(options);
  onPhase?.("switch ready", c);
  try {
    await writeLaunchRecord(options);
    await c.startNode(0, await bootstrapParameters(options));
    onPhase?.("node 0 started", c);
    if (options.agentCommand) {
      // A stand-in instead of the agent (launcher tests): topology and processes only.
      await Promise.all(
        c.allNodes.slice(1).map((_, k) => c.startNode(k + 1, networkOnlyParameters())),
      );
      c.log(`${options.numNodes} stand-in node(s) started`);
      return c;
    }
    // Namespace nodes 1…n−1 boot while node 0 bootstraps and wait for their parameters, which
    // need node 0's cluster CA and register ticket. A VM gets its parameters at power-on
    // (fw_cfg), so VMs start once the parameters exist.
    const early = options.mode === "namespace";
    if (early) {
      await Promise.all(
        c.nodes.slice(1).map(async (n, k) => {
          await n.prepare();
          await c.startNode(k + 1);
        }),
      );
      onPhase?.("nodes started", c);
    }
    const reg = await bootstrapCluster(c, onPhase);
    await Promise.all(
      c.allNodes.slice(1).map((_, k) => {
        const i = k + 1;
        const params = registerParameters(i, reg.ticket, reg.directory, reg.caCertificate);
        return early ? c.nodes[i].writeParameters(params) : c.startNode(i, params);
      }),
    );
    onPhase?.(early ? "parameters written" : "nodes started", c);
    await waitForNodes(c, start, onPhase);
    onPhase?.("launched", c);
    c.log(
      `${options.numNodes} node(s) started after ${
        ((performance.now() - start) / 1000).toFixed(1)
      } s`,
    );
  } catch (e) {
    // Keep node consoles and state for the post-mortem; the path is printed at close.
    await c.close(false);
    throw e;
  }
  return c;
}

/**
 * `--keep-state`: starts every node of the kept cluster in `options.stateDir` on its existing
 * state (no new parameters: the nodes join from their sealed configurations), reuses the metroctl
 * directory's owner credentials and waits as {@link waitForNodes} does. No escrow, no approval.
 * A directory without a kept cluster is a {@link UsageError} before anything is set up.
 */
export async function resumeCluster(options: LaunchOptions): Promise<Cluster> {
  const start = performance.now();
  const opts = await resumeOptions(options);
  const c = await Cluster.create(opts);
  try {
    c.log(`restarting the kept cluster in ${c.stateDir} (${opts.numNodes} node(s))`);
    await Promise.all(c.allNodes.map((_, i) => c.startNode(i)));
    c.api = new ClusterAPI(c.launched, await readMetroctlDir(c.stateDir));
    await waitForNodes(c, start);
  } catch (e) {
    await c.close(false);
    throw e;
  }
  return c;
}
