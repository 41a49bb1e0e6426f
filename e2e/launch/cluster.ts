/**
 * `launchCluster(options) → Cluster` (testing.md §2): switch (bridge, namespaces, DHCP, SOCKS5),
 * namespace node processes and teardown. The cluster bring-up steps of §2.4 that need the agent's
 * API (escrow, register ticket, approval) are the marked EXTENSION POINTS {@link bootstrapCluster}
 * and {@link waitForNodes}; parameters come from params.ts ({@link bootstrapParameters},
 * {@link registerParameters}).
 * @module
 */
import { buildInit } from "../../os-image/init/build.ts";
import type { NodeParameters } from "../../proto/gen/metropolis/proto/api/configuration_pb.ts";
import type { ClusterDirectory } from "../../proto/gen/metropolis/proto/common/common_pb.ts";
import type { LaunchOptions } from "./options.ts";
import { bridgeName, netnsName, networkConfig, nodeAddress, nodeMac, Topology } from "./net.ts";
import { launcherDenoDir, NamespaceNode, type NodeExit } from "./node.ts";
import { NodeDialer, SwitchSocks } from "./socks.ts";
import { DhcpServer } from "./dhcp.ts";
import { bootstrapParameters, networkOnlyParameters, registerParameters } from "./params.ts";

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

/** A running launcher cluster; always {@link close} it. */
export class Cluster {
  /** Node processes by index. */
  readonly nodes: NamespaceNode[] = [];
  /** Dials nodes through the switch's SOCKS5 (one loopback relay per target). */
  readonly dialer: NodeDialer;
  readonly #createdStateDir: boolean;
  #closed?: Promise<void>;
  readonly #signals: [Deno.Signal, () => void][] = [];

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
    if (options.mode !== "namespace") {
      throw new Error(`--mode ${options.mode}: only namespace nodes are implemented here`);
    }
    if (Deno.uid() !== 0) throw new Error("the launcher needs root (bridge, veths, namespaces)");
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
    c.#installSignalHandlers();
    try {
      c.log(`bridge ${topo.bridge} ${topo.gateway}/24, DHCP on it, SOCKS5 on ${socks.address}`);
      const [init, denoDir] = await Promise.all([buildInit(), launcherDenoDir()]);
      for (let i = 0; i < options.numNodes; i++) {
        const netns = await topo.addNode(i, options.staticAddresses !== false);
        c.nodes.push(
          new NamespaceNode({
            index: i,
            dir: `${stateDir}/nodes/${i}`,
            netns,
            init,
            tpm: options.tpm === "swtpm",
            allowReboot: options.allowReboot,
            echo: options.console,
            agentCommand: options.agentCommand,
            denoDir,
            onExit: (exit) => c.#reportExit(i, exit),
          }),
        );
      }
      const last = netnsName(topo.bridge, options.numNodes - 1);
      c.log(
        `namespaces ${netnsName(topo.bridge, 0)}${options.numNodes > 1 ? `…${last}` : ""} ready`,
      );
    } catch (e) {
      await c.close();
      throw e;
    }
    return c;
  }

  #installSignalHandlers() {
    for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
      const h = () => {
        this.log(`${sig}: tearing down`);
        this.close().finally(() => Deno.exit(code));
      };
      Deno.addSignalListener(sig, h);
      this.#signals.push([sig, h]);
    }
  }

  #reportExit(i: number, exit: NodeExit) {
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

  #node(i: number): NamespaceNode {
    const n = this.nodes[i];
    if (!n) throw new Error(`node ${i} does not exist (${this.nodes.length} nodes)`);
    return n;
  }

  /**
   * Starts node `i`. With `params` the ESP's `parameters.pb` is (re)written first (the static
   * network configuration is added when `params` has none); without, the node boots on its
   * existing state (restart after {@link shutdownNode}).
   */
  async startNode(i: number, params?: NodeParameters): Promise<void> {
    const n = this.#node(i);
    if (params) {
      params.networkConfig ??= networkConfig(this.options.subnet, i);
      await n.prepare(params);
    }
    await n.start();
    this.log(`node ${i} (${this.nodeAddress(i)}) started, console ${n.consolePath}`);
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
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
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
    await step(() => Promise.all(this.nodes.map((n) => n.close())));
    await step(() => this.dialer.close());
    await step(() => this.socks.close());
    await step(() => this.dhcp.close());
    await step(() => this.topology.down());
    if (this.options.keep || errors.length) this.log(`state kept in ${this.stateDir}`);
    else if (this.#createdStateDir) {
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
 * EXTENSION POINT (lead, §2.4 steps 2–4): with node 0 started, dial `<node 0>:7835` through
 * `c.dialer`, `AAA.Escrow` with the INSECURE TEST owner key (insecure_key.ts; retry UNAVAILABLE
 * with backoff up to 60 s), write `<state>/metroctl/{owner-key.pem,owner.pem,ca.pem}`, then
 * `GetRegisterTicket` + `GetClusterInfo`. Returns undefined while not implemented: the other
 * nodes then start with network-only parameters and wait.
 */
export function bootstrapCluster(_c: Cluster): Promise<RegisterInfo | undefined> {
  return Promise.resolve(undefined);
}

/**
 * EXTENSION POINT (lead, §2.4 steps 5–6): every 1 s approve NEW nodes; return when all are UP
 * with an address and HEALTHY; apply the role flags; write the metroctl wrapper. Until then it
 * returns at once.
 */
export function waitForNodes(_c: Cluster): Promise<void> {
  return Promise.resolve();
}

/**
 * Launches a cluster (§2.4): switch and namespaces, node 0 with bootstrap parameters,
 * {@link bootstrapCluster}, nodes 1…n−1 in parallel with register parameters (or network-only
 * parameters while bring-up is not implemented), {@link waitForNodes}. On any failure everything
 * is torn down before the error is rethrown.
 */
export async function launchCluster(options: LaunchOptions): Promise<Cluster> {
  const start = performance.now();
  const c = await Cluster.create(options);
  try {
    await c.startNode(0, await bootstrapParameters(options));
    const reg = await bootstrapCluster(c);
    if (!reg && options.numNodes > 1) {
      c.log("cluster bring-up not implemented yet: nodes 1… start without cluster parameters");
    }
    await Promise.all(
      c.nodes.slice(1).map((_, k) => {
        const i = k + 1;
        return c.startNode(
          i,
          reg
            ? registerParameters(i, reg.ticket, reg.directory, reg.caCertificate)
            : networkOnlyParameters(),
        );
      }),
    );
    await waitForNodes(c);
    c.log(
      `${options.numNodes} node(s) started after ${
        ((performance.now() - start) / 1000).toFixed(1)
      } s`,
    );
  } catch (e) {
    await c.close();
    throw e;
  }
  return c;
}
