/**
 * node_exporter (node.md §17): Debian's `prometheus-node-exporter` on 127.0.0.1:7841, proxied by
 * the metrics service as `/metrics/node`. Collectors that only fail on namespace nodes and small
 * VMs (no hardware monitoring, RAID, ZFS, NFS, IPVS, …) are disabled so every scrape reports
 * success and the log stays quiet; measured inside `unshare --net --mount --pid --fork` (root):
 * these were exactly the collectors with `node_scrape_collector_success 0`.
 */
import { PORTS } from "../constants/ports.ts";
import { runCommand } from "../../base/supervisor/runcommand.ts";
import type { Context } from "../../base/supervisor/supervisor.ts";

/** Where the binary lives: the node image first, then the Debian host package. */
export const NODE_EXPORTER_PATHS = [
  "/metrics/bin/node_exporter",
  "/usr/bin/prometheus-node-exporter",
];

/** Default loopback port of node_exporter. */
export const NODE_EXPORTER_PORT = PORTS.nodeExporter;

/** Collectors disabled on every node (see the module comment). */
export const DISABLED_COLLECTORS = [
  "systemd",
  "textfile",
  "bonding",
  "dmi",
  "fibrechannel",
  "hwmon",
  "infiniband",
  "ipvs",
  "mdadm",
  "nfs",
  "nfsd",
  "nvme",
  "rapl",
  "tapestats",
  "zfs",
];

/** Options of {@link runNodeExporter}. */
export interface NodeExporterOptions {
  /** Loopback port (default 7841; tests use a free port). */
  port?: number;
  /** Binary; default the first existing of {@link NODE_EXPORTER_PATHS}. */
  binary?: string;
}

/** The first existing node_exporter binary, or a clear error naming the places looked at. */
export function findNodeExporter(paths: readonly string[] = NODE_EXPORTER_PATHS): string {
  for (const p of paths) {
    try {
      if (Deno.statSync(p).isFile) return p;
    } catch {
      // Not there: try the next one.
    }
  }
  throw new Error(`metrics: node_exporter not found (looked at ${paths.join(", ")})`);
}

/** Command line of node_exporter listening on 127.0.0.1:`port`. */
export function nodeExporterArgv(binary: string, port: number): string[] {
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error(`metrics: invalid node_exporter port ${port}`);
  }
  return [
    binary,
    `--web.listen-address=127.0.0.1:${port}`,
    "--log.level=warn",
    ...DISABLED_COLLECTORS.map((c) => `--no-collector.${c}`),
  ];
}

/**
 * Runnable: runs node_exporter until `ctx` is aborted; Healthy once `/metrics` answers. Fails
 * (and is restarted by the supervisor) when the process exits.
 */
export async function runNodeExporter(
  ctx: Context,
  opts: NodeExporterOptions = {},
): Promise<void> {
  const port = opts.port ?? NODE_EXPORTER_PORT;
  const argv = nodeExporterArgv(opts.binary ?? findNodeExporter(), port);
  await runCommand(ctx, argv, {
    readiness: async (signal) => {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/metrics`, { signal });
        await r.body?.cancel();
        return r.ok;
      } catch {
        return false;
      }
    },
    killGraceMs: 5_000,
  });
}
