/**
 * `deno task launch` / `bazel run //:launch-cluster`: the launcher CLI (testing.md §2.5, §2.6).
 * Parses the flags (bad or unknown flag → one line `launch: <error>`, exit 2), launches the
 * cluster, prints progress lines and keeps running until Ctrl-C (or SIGTERM/SIGHUP), which tears
 * everything down. {@link main} takes the entry point's defaults (the Bazel target launches VMs).
 * @module
 */
import {
  DEFAULT_STORAGE_SECURITY,
  type EntryDefaults,
  FLAG_ALIASES,
  FLAG_NAMES,
  parseFlags,
  UsageError,
} from "./options.ts";
import { launchCluster } from "./cluster.ts";

/** The `--help` text; `defaults.mode` is the entry point's default node kind. */
export function helpText(defaults: EntryDefaults = {}): string {
  const mode = defaults.mode ?? "namespace";
  return [
    "usage: deno task launch [--flag=value …]   (bazel run //:launch-cluster -- [--flag=value …])",
    "Starts a local cluster (needs root): a bridge with DHCP and a SOCKS5 proxy, N nodes, node 0",
    "bootstraps, the others register and are approved; prints `Launch: Cluster running!` and a",
    "metroctl wrapper. Ctrl-C, SIGTERM or SIGHUP stop every node and remove the network.",
    `  --mode namespace|vm      node kind (default here: ${mode})`,
    "                           namespace: processes in network namespaces on this host",
    "                           vm: QEMU VMs booting the signed image (OVMF Secure Boot, swtpm,",
    "                           one sparse GPT disk per node, TAP on the bridge; TCG is slow:",
    "                           2 nodes take ≈ 4–5 min, progress lines show each boot)",
    "  --num-nodes N            1–253 (default 3)",
    "  --storage-security S     permissive|needs-encryption|needs-encryption-and-authentication|",
    `                           needs-insecure (default: vm ${DEFAULT_STORAGE_SECURITY.vm},`,
    `                           namespace ${DEFAULT_STORAGE_SECURITY.namespace}); a VM cluster`,
    "                           with encrypted data cannot be restarted with --keep-state",
    "  --ram 2048M, --cpu 1, --threads-per-cpu 1, --disk 5G, --accel auto|kvm|tcg   per VM",
    "  --variant full|core      VM image built when --image is not given (default full:",
    "                           with Kubernetes; core boots faster, no Kubernetes)",
    "  --image <dir>            VM image already built (deno task image --out=<dir>)",
    "  --keep                   keep the state directory at exit",
    "  --keep-state --state-dir <dir>   restart that kept cluster (namespace or VM): nodes rejoin",
    "                           from their sealed configurations; its launch.json sets the shape",
    "  --console                echo node consoles, prefixed [n<i>]",
    `all flags: ${FLAG_NAMES.map((f) => `--${f}`).join(" ")}`,
    `aliases: ${Object.entries(FLAG_ALIASES).map(([a, f]) => `--${a} = --${f}`).join(", ")}`,
    "Meanings and defaults of every flag: docs/quickstart.md (Launcher flags).",
  ].join("\n");
}

/** Runs the CLI with `args`; returns the exit code (while a cluster runs, never returns). */
export async function main(args: string[], defaults: EntryDefaults = {}): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(helpText(defaults));
    return 0;
  }
  let opts;
  try {
    opts = parseFlags(args, defaults);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`launch: ${e.message}`);
      return 2;
    }
    throw e;
  }
  let cluster;
  try {
    cluster = await launchCluster({ ...opts, userKubeconfig: true });
  } catch (e) {
    console.error(`launch: ${(e as Error).message}`);
    // A directory without a kept cluster (--keep-state) is bad input like a bad flag.
    return e instanceof UsageError ? 2 : 1;
  }
  // Whatever goes wrong from here on, the network and the nodes must not outlive the launcher.
  const c = cluster;
  const fatal = (ev: Event, what: unknown) => {
    ev.preventDefault();
    c.log(`fatal: ${(what as Error)?.message ?? what}; tearing down`);
    c.close().finally(() => Deno.exit(1));
  };
  globalThis.addEventListener("error", (ev) => fatal(ev, ev.error));
  globalThis.addEventListener("unhandledrejection", (ev) => fatal(ev, ev.reason));
  const addrs = c.allNodes.map((_, i) => c.nodeAddress(i)).join(", ");
  c.log(`running: ${c.allNodes.length} node(s) ${addrs}; SOCKS5 ${c.socks.address}`);
  c.log(`state ${c.stateDir}; Ctrl-C stops all nodes and removes the network`);
  // The SIGINT/SIGTERM handlers installed by the cluster close it and exit.
  await new Promise(() => {});
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
