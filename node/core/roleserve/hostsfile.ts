/**
 * hostsfile worker (node.md §13): `/ephemeral/hosts` (localhost + every node ID → address; etcd
 * resolves peer URLs through it), hostname = node ID, `/ephemeral/machine-id`, and the ESP cluster
 * directory (ConsensusMembers with addresses).
 *
 * The hosts file is rewritten in place, not replaced: on namespace nodes it is bind-mounted over
 * /etc/hosts, and a rename would detach the bind from the new file.
 */
import { create } from "@bufbuild/protobuf";
import { ClusterDirectorySchema } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { type Context, signal } from "../../base/supervisor/supervisor.ts";
import { sethostname } from "../../base/sys/mod.ts";
import { readClusterDirectory, writeClusterDirectory } from "../localstorage/esp.ts";
import { EPHEMERAL_PATHS } from "../localstorage/paths.ts";
import { Trigger } from "../../base/event/trigger.ts";
import { type KnownNode, type RoleContext } from "./context.ts";

/** Renders the hosts file. */
export function renderHosts(
  selfId: string,
  selfAddr: string | undefined,
  nodes: Iterable<KnownNode>,
): string {
  const lines = ["127.0.0.1 localhost", "::1 localhost"];
  const seen = new Set<string>();
  if (selfAddr) {
    lines.push(`${selfAddr} ${selfId}`);
    seen.add(selfId);
  }
  for (const n of [...nodes].sort((a, b) => a.id < b.id ? -1 : 1)) {
    if (!n.address || seen.has(n.id)) continue;
    lines.push(`${n.address} ${n.id}`);
    seen.add(n.id);
  }
  return lines.join("\n") + "\n";
}

/** Runs the hostsfile worker; `ready` is called once the own entry is written. */
export function hostsfile(rc: RoleContext, ready: () => void) {
  return async (ctx: Context): Promise<void> => {
    const id = rc.enrolled.nodeId;
    try {
      sethostname(id);
    } catch (e) {
      ctx.logger.warning(`sethostname: ${(e as Error).message}`);
    }
    const mid = id.slice("metropolis-".length).padEnd(32, "0").slice(0, 32);
    await Deno.writeTextFile(EPHEMERAL_PATHS.machineId, mid + "\n");
    // Until the cluster's node list arrives, the ESP cluster directory (the ConsensusMembers with
    // addresses, written by earlier boots) names the etcd peers: without them a restarting member
    // could not reach its peers, and without etcd there is no curator to ask.
    const seeded = new Map<string, KnownNode>();
    for (const n of (await readClusterDirectory().catch(() => undefined))?.nodes ?? []) {
      const a = n.addresses[0]?.host;
      if (a && a !== "127.0.0.1") {
        seeded.set(n.id, { id: n.id, address: a, consensusMember: true, runningCurator: false });
      }
    }
    signal(ctx, "healthy");
    let last = "";
    let lastDir = "";
    const changed = new Trigger();
    changed.follow([rc.address, rc.nodes], ctx.signal);
    for (;;) {
      await changed.wait(ctx.signal);
      if (ctx.signal.aborted) return;
      const addr = rc.address.get();
      const known = rc.nodes.get() ?? new Map<string, KnownNode>();
      const nodes = known.size ? known : seeded;
      const text = renderHosts(id, addr, nodes.values());
      if (text !== last) {
        await writeInPlace(EPHEMERAL_PATHS.hosts, text);
        last = text;
        if (addr) ready();
      }
      const members = [...known.values()].filter((n) => n.consensusMember && n.address);
      if (members.length) {
        const dir = create(ClusterDirectorySchema, {
          nodes: members.map((n) => ({ id: n.id, addresses: [{ host: n.address! }] })),
        });
        const key = members.map((n) => `${n.id}=${n.address}`).sort().join(",");
        if (key !== lastDir) {
          await writeClusterDirectory(dir);
          lastDir = key;
        }
      }
    }
  };
}

async function writeInPlace(path: string, text: string): Promise<void> {
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    const b = new TextEncoder().encode(text);
    let off = 0;
    while (off < b.length) off += await f.write(b.subarray(off));
  } finally {
    f.close();
  }
}
