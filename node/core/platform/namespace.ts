/**
 * The `namespace` platform (node.md §2 "Namespace node", §3; testing.md §2.2): the agent in
 * Linux namespaces on a host kernel it does not own. The bring-up builds the node's private root
 * from `--state` (`/esp` and `/data` bound from the state directory, or `/data` on the XFS loop
 * image) and pivots into it; the node shares the host's cgroup hierarchies; the host kernel's
 * device-mapper, WireGuard, kexec and efivars are not the node's; reboot(2) ends the node's PID
 * namespace; the TPM is the swtpm of `--tpm-socket`; console lines go to stdout.
 * @module
 */
import type { AgentFlags } from "./flags.ts";
import { mountAll, namespaceMounts } from "./mounts.ts";
import { prepareNamespaceRoot } from "./namespace_root.ts";
import {
  type Capabilities,
  checkStorageSecurity,
  type DataKey,
  type Platform,
} from "./platform.ts";
import { openTpm } from "./tpm.ts";
import { workerHost } from "./worker_host.ts";

/** What a namespace node can do. */
export const NAMESPACE_CAPABILITIES: Capabilities = Object.freeze({
  encryption: false,
  wireguard: false,
  kexec: false,
  efivars: false,
  reboot: "pid-namespace",
});

/** Options of {@link namespacePlatform} beyond the flags (tests). */
export interface NamespacePlatformOptions {
  /** Mount points as the node sees them (default `/esp`, `/data`). */
  esp?: string;
  data?: string;
  /** Text of /proc/self/status for the worker host (tests). */
  procStatus?: string;
}

function isDirectory(p: string): boolean {
  try {
    return Deno.statSync(p).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Removes everything inside `dir`, refusing when something is mounted below it (deleting through
 * a mount would destroy what is not ours to format).
 */
export async function emptyDirectory(dir: string, mountinfo?: string): Promise<void> {
  const mounts = mountinfo ?? await Deno.readTextFile("/proc/self/mountinfo");
  const below = mounts.split("\n").map((l) => l.split(" ")[4]).find((mp) =>
    mp?.startsWith(`${dir}/`)
  );
  if (below) throw new Error(`data storage: cannot empty ${dir}: ${below} is mounted below it`);
  for await (const e of Deno.readDir(dir)) {
    await Deno.remove(`${dir}/${e.name}`, { recursive: true });
  }
}

/** The `namespace` platform of a node started with `flags` (`--state` required). */
export function namespacePlatform(
  flags: Pick<AgentFlags, "state" | "tpmSocket" | "payloads">,
  o: NamespacePlatformOptions = {},
): Platform {
  const state = flags.state;
  if (!state) throw new Error("namespace platform without --state");
  const caps = NAMESPACE_CAPABILITIES;
  // Flags as seen inside the private root once the bring-up pivoted (the TPM socket moves).
  let inside: Pick<AgentFlags, "tpmSocket"> = flags;
  const espPath = o.esp ?? "/esp";
  const dataPath = o.data ?? "/data";
  // /data is prepared by the bring-up: the image's host path is gone after the pivot. Both check
  // it is there; MountNew also empties it, the namespace node's "format" (node.md §8.3): a
  // bootstrap that starts again after breaking off must not find the first attempt's etcd.
  const data = async (key: DataKey, fresh: boolean): Promise<void> => {
    checkStorageSecurity(caps, key.security);
    if (!isDirectory(dataPath)) {
      throw new Error(`data storage: ${dataPath} is missing (the bring-up did not prepare it)`);
    }
    if (fresh) await emptyDirectory(dataPath);
  };
  return {
    name: "namespace",
    capabilities: caps,
    bringUp(log) {
      // The node mounts the host's cgroup hierarchies; the pivot hides the host's /proc.
      const hostCgroups = Deno.readTextFileSync("/proc/self/cgroup");
      inside = prepareNamespaceRoot(flags, log);
      mountAll(namespaceMounts(hostCgroups), log);
    },
    consoles: () => [Deno.stdout],
    esp: {
      path: espPath,
      mount(log) {
        if (!isDirectory(espPath)) {
          return Promise.reject(
            new Error(`ESP: ${espPath} is missing (not bound by the bring-up)`),
          );
        }
        log(`ESP: ${state}/esp bound at ${espPath} by the bring-up`);
        return Promise.resolve();
      },
      // Bind mounts of host directories: they go with the node's mount namespace.
      close: () => {},
    },
    data: {
      mountNew: (key) => data(key, true),
      mountExisting: (key) => data(key, false),
      // A host directory bound by the bring-up; nothing to flush or close.
      close: () => {},
    },
    tpm: (log) =>
      openTpm(inside.tpmSocket ? { socket: inside.tpmSocket } : { none: "no --tpm-socket" }, log),
    power: {},
    workerHost: (nodeId) =>
      workerHost({ sharedCgroups: true, wireguard: caps.wireguard }, nodeId, o.procStatus),
  };
}
