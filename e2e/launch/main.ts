/**
 * `deno task launch`: the launcher CLI (testing.md §2.5, §2.6). Parses the flags (bad or unknown
 * flag → one line `launch: <error>`, exit 2), launches the cluster, prints progress lines and
 * keeps running until Ctrl-C, which tears everything down.
 * @module
 */
import { FLAG_ALIASES, FLAG_NAMES, parseFlags, UsageError } from "./options.ts";
import { launchCluster } from "./cluster.ts";

async function main(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(
      "usage: deno task launch [--flag=value …]\n" +
        "Starts a local cluster of namespace nodes (needs root); Ctrl-C tears it down.\n" +
        "--keep keeps the state directory; --keep-state --state-dir <dir> restarts that kept\n" +
        "cluster (nodes rejoin from their sealed configurations; its launch.json sets the shape).\n" +
        `flags: ${FLAG_NAMES.map((f) => `--${f}`).join(" ")}\n` +
        `aliases: ${Object.entries(FLAG_ALIASES).map(([a, f]) => `--${a} = --${f}`).join(", ")}\n` +
        "Meanings and defaults: docs/quickstart.md and the launcher table of testing.md §2.5.",
    );
    return 0;
  }
  let opts;
  try {
    opts = parseFlags(args);
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
  const addrs = c.nodes.map((_, i) => c.nodeAddress(i)).join(", ");
  c.log(`running: ${c.nodes.length} node(s) ${addrs}; SOCKS5 ${c.socks.address}`);
  c.log(`state ${c.stateDir}; Ctrl-C stops all nodes and removes the network`);
  // The SIGINT/SIGTERM handlers installed by the cluster close it and exit.
  await new Promise(() => {});
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
