/**
 * The launcher's switch (testing.md §2.1, §2.2): host bridge `metro<N>` with `<prefix>.1/24`,
 * per node a network namespace `metro-<bridge>-<i>` and a veth pair (host end `<bridge>v<i>` on
 * the bridge, node end `eth0` with MAC `52:54:00:01:00:<i+2>`), plus the lock file that keeps two
 * live launchers off one bridge. No uplink, no NAT.
 *
 * Addresses: the launcher only brings `eth0` up with its MAC; the agent's network service
 * (node.md §15) gets the reserved `<prefix>.(i+2)/24` and the default route from the switch's
 * DHCP server (dhcp.ts). {@link addNode} with `staticAddress` configures them from the host
 * instead, for stand-ins without a network service; {@link networkConfig} is the same as a static
 * NodeParameters.network_config.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import {
  DeviceSchema,
  Interface_RouteSchema,
  InterfaceSchema,
  type Net,
  NetSchema,
} from "../../proto/gen/osbase/net/proto/net_pb.ts";
import type { Subnet } from "./options.ts";
import { pidAlive, run, sleep, tryRun } from "./exec.ts";

/** Most nodes one /24 holds (.2 … .254). */
export const MAX_NODES = 253;

/** Bridge name of a subnet: `metro<third octet>`. */
export function bridgeName(s: Subnet): string {
  return `metro${s.index}`;
}

/** The host's (gateway's) address on the bridge: `<prefix>.1`. */
export function gatewayAddress(s: Subnet): string {
  return `${s.prefix}.1`;
}

function checkIndex(i: number) {
  if (!Number.isInteger(i) || i < 0 || i >= MAX_NODES) {
    throw new Error(`node index ${i} out of range 0-${MAX_NODES - 1}`);
  }
}

/** Address of node `i`: `<prefix>.(i+2)`. */
export function nodeAddress(s: Subnet, i: number): string {
  checkIndex(i);
  return `${s.prefix}.${i + 2}`;
}

/** MAC of node `i`: `52:54:00:01:00:<i+2 as two hex digits>`. */
export function nodeMac(i: number): string {
  checkIndex(i);
  return `52:54:00:01:00:${(i + 2).toString(16).padStart(2, "0")}`;
}

/** Network namespace of node `i`: `metro-<bridge>-<i>`. */
export function netnsName(bridge: string, i: number): string {
  return `metro-${bridge}-${i}`;
}

/** Host end of node `i`'s veth: `<bridge>v<i>` (VM TAPs are `<bridge>t<i>`). */
export function hostVethName(bridge: string, i: number): string {
  return `${bridge}v${i}`;
}

/**
 * Static network configuration of node `i` for NodeParameters.network_config: interface `eth0`
 * matched by its MAC, address `<prefix>.(i+2)/24`, default route via `<prefix>.1`, no DNS.
 */
export function networkConfig(s: Subnet, i: number): Net {
  return create(NetSchema, {
    interface: [create(InterfaceSchema, {
      name: "eth0",
      type: { case: "device", value: create(DeviceSchema, { hardwareAddress: nodeMac(i) }) },
      address: [`${nodeAddress(s, i)}/24`],
      route: [create(Interface_RouteSchema, {
        destination: "0.0.0.0/0",
        gatewayIp: gatewayAddress(s),
      })],
    })],
  });
}

async function linkExists(name: string): Promise<boolean> {
  return await tryRun("ip", ["link", "show", "dev", name]);
}

/** Deletes a link; one that does not exist (any more) is fine. */
async function deleteLink(name: string): Promise<void> {
  await run("ip", ["link", "del", name]).catch((e) => {
    if (!/Cannot find device/.test(String(e))) throw e;
  });
}

/** Names of existing network namespaces belonging to `bridge` (`metro-<bridge>-*`). */
export async function bridgeNetns(bridge: string): Promise<string[]> {
  const out = await run("ip", ["netns", "list"]);
  return out.split("\n").map((l) => l.split(" ")[0]).filter((n) =>
    n.startsWith(`metro-${bridge}-`)
  );
}

/** Removes a network namespace after killing every process still in it. */
export async function removeNetns(ns: string): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const pids = (await run("ip", ["netns", "pids", ns]).catch(() => "")).trim();
    if (!pids) break;
    for (const p of pids.split(/\s+/).map(Number)) {
      try {
        Deno.kill(p, "SIGKILL");
      } catch { /* already gone */ }
    }
    await sleep(100);
  }
  await run("ip", ["netns", "delete", ns]).catch((e) => {
    if (!/No such file/.test(String(e))) throw e;
  });
}

/** The lock that marks a bridge as owned by one live launcher. */
export class BridgeLock {
  private constructor(readonly path: string) {}

  /**
   * Takes the lock `path` (content: our PID). A lock held by a live process → error naming it;
   * a stale lock (its PID is gone) is replaced and `onStale` runs first to clean up what the dead
   * launcher left.
   */
  static async acquire(path: string, onStale: () => Promise<void>): Promise<BridgeLock> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await Deno.writeTextFile(path, `${Deno.pid}\n`, { createNew: true });
        return new BridgeLock(path);
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      }
      const pid = Number((await Deno.readTextFile(path).catch(() => "")).trim());
      if (pid > 0 && pidAlive(pid)) {
        throw new Error(`bridge in use by launcher pid ${pid} (lock ${path})`);
      }
      await onStale();
      await Deno.remove(path).catch(() => {});
    }
    throw new Error(`cannot take lock ${path}`);
  }

  /** Releases the lock (only if it still names us). */
  async release(): Promise<void> {
    const pid = Number((await Deno.readTextFile(this.path).catch(() => "")).trim());
    if (pid === Deno.pid) await Deno.remove(this.path).catch(() => {});
  }
}

/** The bridge and the nodes' network namespaces of one launcher. */
export class Topology {
  readonly bridge: string;
  readonly gateway: string;
  readonly #nodes = new Set<number>();
  readonly #taps = new Set<string>();
  #lock?: BridgeLock;

  /** Describes the topology of `subnet`; {@link up} creates it. */
  constructor(readonly subnet: Subnet, readonly lockPath: string) {
    this.bridge = bridgeName(subnet);
    this.gateway = gatewayAddress(subnet);
  }

  /** Takes the lock, removes leftovers of a dead launcher, creates the bridge with `.1/24`. */
  async up(): Promise<void> {
    this.#lock = await BridgeLock.acquire(this.lockPath, () => this.#removeLeftovers());
    try {
      if (await linkExists(this.bridge)) {
        throw new Error(
          `bridge ${this.bridge} exists but no live launcher holds ${this.lockPath}; ` +
            `remove it with: ip link del ${this.bridge}`,
        );
      }
      await run("ip", ["link", "add", this.bridge, "type", "bridge"]);
      await run("ip", ["addr", "add", `${this.gateway}/24`, "dev", this.bridge]);
      await run("ip", ["link", "set", this.bridge, "up"]);
    } catch (e) {
      await this.#lock.release();
      this.#lock = undefined;
      throw e;
    }
  }

  /** What a crashed launcher may have left: node namespaces, veths, TAPs and the bridge. */
  async #removeLeftovers(): Promise<void> {
    for (const ns of await bridgeNetns(this.bridge)) await removeNetns(ns);
    const links = await run("ip", ["-o", "link", "show"]);
    for (const m of links.matchAll(new RegExp(`^\\d+: (${this.bridge}t\\d+)[:@]`, "gm"))) {
      await deleteLink(m[1]);
    }
    await deleteLink(this.bridge);
  }

  /**
   * Creates node `i`'s namespace and veth (host end on the bridge, node end `eth0` with the
   * node's MAC, `eth0` and `lo` up; the agent would do that too, a stand-in would not). With
   * `staticAddress` also assigns `<prefix>.(i+2)/24` and the default route via the bridge address.
   */
  async addNode(i: number, staticAddress = false): Promise<string> {
    const ns = netnsName(this.bridge, i);
    const host = hostVethName(this.bridge, i);
    // Temporary peer name: unique on the host while the pair is created, renamed inside.
    const peer = `${this.bridge}p${i}`;
    this.#nodes.add(i);
    await run("ip", ["netns", "add", ns]);
    await run("ip", ["link", "add", host, "type", "veth", "peer", "name", peer, "netns", ns]);
    await run("ip", ["link", "set", host, "master", this.bridge, "up"]);
    await run("ip", ["-n", ns, "link", "set", peer, "name", "eth0", "address", nodeMac(i)]);
    await run("ip", ["-n", ns, "link", "set", "eth0", "up"]);
    await run("ip", ["-n", ns, "link", "set", "lo", "up"]);
    if (staticAddress) {
      await run("ip", [
        "-n",
        ns,
        "addr",
        "add",
        `${nodeAddress(this.subnet, i)}/24`,
        "dev",
        "eth0",
      ]);
      await run("ip", ["-n", ns, "route", "add", "default", "via", this.gateway]);
    }
    return ns;
  }

  /**
   * Creates VM node `i`'s TAP device `<bridge>t<i>` on the bridge (testing.md §2.3), for qemu's
   * `-netdev tap,ifname=…,script=no`. Returns its name; {@link down} removes it.
   */
  async addTap(i: number): Promise<string> {
    const tap = `${this.bridge}t${i}`;
    this.#taps.add(tap);
    await run("ip", ["tuntap", "add", "dev", tap, "mode", "tap"]);
    await run("ip", ["link", "set", tap, "master", this.bridge, "up"]);
    return tap;
  }

  /** Removes node `i`'s veth and namespace (killing what still runs in it). */
  async removeNode(i: number): Promise<void> {
    // Host end first: deleting it removes the pair at once, whereas a deleted namespace frees
    // its devices asynchronously (a veth would linger for a moment).
    await deleteLink(hostVethName(this.bridge, i));
    await removeNetns(netnsName(this.bridge, i));
    this.#nodes.delete(i);
  }

  /**
   * Removes every node, the bridge and the lock. Every step is tried even when an earlier one
   * fails (the first error is rethrown at the end, the lock is then kept so the next launcher
   * cleans up). Safe to call twice.
   */
  async down(): Promise<void> {
    const errors: unknown[] = [];
    const attempt = async (fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (e) {
        errors.push(e);
      }
    };
    for (const i of [...this.#nodes]) await attempt(() => this.removeNode(i));
    for (const tap of [...this.#taps]) {
      await attempt(async () => {
        await deleteLink(tap);
        this.#taps.delete(tap);
      });
    }
    if (this.#lock) {
      await attempt(async () => {
        for (const ns of await bridgeNetns(this.bridge)) await removeNetns(ns);
      });
      await attempt(() => deleteLink(this.bridge));
      if (errors.length === 0) {
        await this.#lock.release();
        this.#lock = undefined;
      }
    }
    if (errors.length) throw errors[0];
  }
}
