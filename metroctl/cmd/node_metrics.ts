/**
 * `node metrics <id> <exporter>` (metroctl.md §4.8): HTTPS GET of a node's metrics exporter on
 * 7840 with the owner certificate, verifying the server as that node; body to stdout.
 */
import { PORTS } from "../../node/core/constants/ports.ts";
import https from "node:https";
import { Buffer } from "node:buffer";
import { certificatePem } from "../../node/base/pki/info.ts";
import { exportPkcs8Pem } from "../../node/base/pki/keys.ts";
import { parseHostPort } from "../../node/base/socks/protocol.ts";
import { startSocksRelay } from "../../node/base/socks/relay.ts";
import { installIpServernameFix } from "../../node/core/rpc/servername.ts";
import { nodeServerIdentityCheck } from "../../node/core/rpc/client.ts";
import { joinHostPort } from "../../node/core/rpc/resolver.ts";
import type { Command } from "../core/args.ts";
import type { Context } from "../core/context.ts";
import { connectCluster, ownerIdentity } from "../core/dial.ts";
import { CliError, UsageError } from "../core/errors.ts";
import { nodeAddress, nodeById } from "../core/nodes.ts";

/** Port of the node metrics service. */
export const METRICS_PORT = PORTS.metrics;
/** Exporter names served by nodes. */
export const EXPORTERS = [
  "core",
  "node",
  "etcd",
  "kubernetes-scheduler",
  "kubernetes-controller-manager",
  "kubernetes-apiserver",
  "containerd",
] as const;

/** GETs `https://<target>/metrics/<exporter>` verifying node `nodeId`; returns status and body. */
export async function fetchMetrics(
  target: string,
  exporter: string,
  o: {
    ca: Uint8Array;
    nodeId: string;
    certificate: Uint8Array;
    privateKey: CryptoKey;
    proxy?: string;
  },
): Promise<{ status: number; body: Uint8Array }> {
  installIpServernameFix();
  const relay = o.proxy
    ? await startSocksRelay(parseHostPort(o.proxy), parseHostPort(target))
    : undefined;
  const { host, port } = parseHostPort(relay?.address ?? target);
  const key = await exportPkcs8Pem(o.privateKey);
  try {
    return await new Promise((resolve, reject) => {
      const req = https.request({
        host,
        port,
        path: `/metrics/${exporter}`,
        method: "GET",
        servername: o.nodeId,
        ca: certificatePem(o.ca),
        cert: certificatePem(o.certificate),
        key,
        checkServerIdentity: nodeServerIdentityCheck(o.ca, o.nodeId),
        timeout: 20_000,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error("metrics request timed out")));
      req.on("error", reject);
      req.end();
    });
  } finally {
    await relay?.close();
  }
}

async function metrics(ctx: Context): Promise<void> {
  const [id, exporter] = ctx.args;
  if (!(EXPORTERS as readonly string[]).includes(exporter)) {
    throw new UsageError(
      `unknown exporter "${exporter}": want one of ${EXPORTERS.join(", ")}`,
      ctx.command,
    );
  }
  const owner = await ownerIdentity(ctx);
  const cluster = await connectCluster(ctx);
  try {
    const node = await nodeById(cluster, id);
    const r = await fetchMetrics(joinHostPort(nodeAddress(node), METRICS_PORT), exporter, {
      ca: cluster.ca,
      nodeId: id,
      certificate: owner.certificate,
      privateKey: owner.privateKey,
      proxy: ctx.proxy,
    }).catch((e) => {
      throw new CliError(`metrics request to ${id} failed: ${(e as Error).message}`);
    });
    if (r.status !== 200) throw new CliError(`metrics request failed: HTTP ${r.status}`);
    await ctx.write(new TextDecoder().decode(r.body));
  } finally {
    await cluster.close();
  }
}

/** `node metrics`. */
export const metricsCommand: Command = {
  name: "metrics",
  summary: "Fetch metrics of a node exporter",
  description: `Fetches Prometheus metrics of a node; exporters: ${EXPORTERS.join(", ")}.`,
  usage: "<node-id> <exporter>",
  args: { min: 2, max: 2 },
  run: metrics,
};
