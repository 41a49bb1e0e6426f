/**
 * Metrics service (node.md §17, wire/README.md "7840 metrics"): HTTPS with the node certificate,
 * client certificate required and verified against the cluster CA with EKU clientAuth (the owner
 * certificate qualifies, node certificates do not). `GET /metrics/<exporter>` proxies to the
 * exporter on 127.0.0.1 (`core` is served by the agent itself); `GET /discovery` returns
 * Prometheus HTTP SD JSON.
 *
 * Client verification happens in the request handler, not in the TLS stack: the server requests a
 * certificate without a `ca` (so no CA names go into the CertificateRequest — Go clients withhold
 * certificates whose issuer is not listed, workplace.md §3) and answers 401 (no certificate) or
 * 403 (not a cluster-CA-issued clientAuth certificate) with a one-line reason. Upstream (Go) fails
 * the TLS handshake instead; an HTTP status is easier to diagnose and equally refuses the request.
 */
import { PORTS } from "../constants/ports.ts";
import * as https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import type { AddressInfo } from "node:net";
import { certificatePem, exportPkcs8Pem } from "../../base/pki/mod.ts";
import { ChainError, verifyChain } from "../../base/pki/verify.ts";
import { type Context, signal } from "../../base/supervisor/supervisor.ts";

/** Default port of the metrics service. */
export const METRICS_PORT = PORTS.metrics;

/** Loopback ports of the proxied exporters (node.md §17). `core` is served in-process. */
export const EXPORTER_PORTS: Readonly<Record<string, number>> = {
  node: PORTS.nodeExporter,
  etcd: PORTS.metricsEtcd,
  "kubernetes-scheduler": PORTS.metricsScheduler,
  "kubernetes-controller-manager": PORTS.metricsControllerManager,
  "kubernetes-apiserver": PORTS.metricsApiserver,
  containerd: PORTS.metricsContainerd,
};

/** Exporters whose metrics are not at `/metrics` (containerd serves `/v1/metrics`). */
export const EXPORTER_PATHS: Readonly<Record<string, string>> = { containerd: "/v1/metrics" };

/** One Prometheus HTTP SD target group. */
export interface DiscoveryGroup {
  targets: string[];
  labels: Record<string, string>;
}

/** Options of {@link runMetrics}. */
export interface MetricsOptions {
  /** Node certificate (DER): serving certificate. */
  certificate: Uint8Array;
  /** Node private key (Ed25519). */
  privateKey: CryptoKey;
  /** Cluster CA certificate (DER): client certificates must be issued by it. */
  clusterCA: Uint8Array;
  /** Listen port (default 7840; 0 = ephemeral, see `onListening`). */
  port?: number;
  /** Listen address (default all addresses). */
  host?: string;
  /** Exporter name → loopback port; default {@link EXPORTER_PORTS} (tests override). */
  exporters?: Record<string, number>;
  /** Source of `/discovery`; default: no targets (`[]`). */
  discovery?: () => DiscoveryGroup[] | Promise<DiscoveryGroup[]>;
  /** Called with the bound port once listening. */
  onListening?: (port: number) => void;
}

const START_SECONDS = Date.now() / 1000;

/** The agent's own metrics (`/metrics/core`) in Prometheus text format 0.0.4. */
export function coreMetrics(): string {
  const mem = Deno.memoryUsage();
  return [
    "# HELP metropolis_agent_up Whether the Metropolis node agent is running.",
    "# TYPE metropolis_agent_up gauge",
    "metropolis_agent_up 1",
    "# HELP process_resident_memory_bytes Resident memory size in bytes.",
    "# TYPE process_resident_memory_bytes gauge",
    `process_resident_memory_bytes ${mem.rss}`,
    "# HELP process_heap_used_bytes V8 heap in use in bytes.",
    "# TYPE process_heap_used_bytes gauge",
    `process_heap_used_bytes ${mem.heapUsed}`,
    // Together with the RSS these split the agent's memory (testing.md §5 `rss`): V8's heap as
    // reserved, and the memory outside it that JS objects hold (ArrayBuffers, strings of scripts).
    "# HELP process_heap_total_bytes V8 heap reserved in bytes.",
    "# TYPE process_heap_total_bytes gauge",
    `process_heap_total_bytes ${mem.heapTotal}`,
    "# HELP process_external_memory_bytes Memory outside the V8 heap held by JS objects in bytes.",
    "# TYPE process_external_memory_bytes gauge",
    `process_external_memory_bytes ${mem.external}`,
    "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.",
    "# TYPE process_start_time_seconds gauge",
    `process_start_time_seconds ${START_SECONDS.toFixed(3)}`,
    "",
  ].join("\n");
}

/**
 * Checks the client certificate of `socket`: issued by `caDer` (signature, validity), not a CA,
 * EKU clientAuth. Returns undefined when acceptable, else `[status, reason]`.
 */
export async function checkClient(
  socket: TLSSocket,
  caDer: Uint8Array,
): Promise<[number, string] | undefined> {
  const peer = socket.getPeerCertificate?.(false);
  const raw = peer?.raw;
  if (!raw || raw.length === 0) return [401, "client certificate required"];
  try {
    const leaf = await verifyChain(new Uint8Array(raw), caDer);
    if (leaf.isCA) return [403, "client certificate is a CA"];
    if (!leaf.extKeyUsage?.includes("clientAuth")) {
      return [403, "client certificate lacks EKU clientAuth"];
    }
  } catch (e) {
    if (e instanceof ChainError) return [403, `client certificate: ${e.message}`];
    throw e;
  }
  return undefined;
}

function reply(res: ServerResponse, status: number, body: string, type = "text/plain") {
  res.writeHead(status, { "content-type": `${type}; charset=utf-8` });
  res.end(body.endsWith("\n") ? body : body + "\n");
}

/** Whether `e` (a fetch failure) means nothing listens on the exporter port. */
function isRefused(e: unknown): boolean {
  for (let c: unknown = e; c; c = (c as { cause?: unknown }).cause) {
    if (c instanceof Deno.errors.ConnectionRefused) return true;
    if (/refused|ECONNREFUSED|os error 111/i.test(String((c as Error).message ?? c))) return true;
  }
  return false;
}

async function proxy(res: ServerResponse, port: number, name: string, signal: AbortSignal) {
  let upstream: Response;
  try {
    upstream = await fetch(`http://127.0.0.1:${port}${EXPORTER_PATHS[name] ?? "/metrics"}`, {
      signal: AbortSignal.any([signal, AbortSignal.timeout(30_000)]),
    });
  } catch (e) {
    if (isRefused(e)) return reply(res, 503, `exporter ${name} is not running on this node`);
    return reply(res, 502, `exporter ${name}: ${(e as Error).message}`);
  }
  const body = new Uint8Array(await upstream.arrayBuffer());
  res.writeHead(upstream.status, {
    "content-type": upstream.headers.get("content-type") ?? "text/plain; version=0.0.4",
    "content-length": String(body.length),
  });
  res.end(body);
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  opts: MetricsOptions,
  exporters: Record<string, number>,
  stop: AbortSignal,
) {
  const denied = await checkClient(req.socket as TLSSocket, opts.clusterCA);
  if (denied) return reply(res, denied[0], denied[1]);
  if (req.method !== "GET") return reply(res, 405, `method ${req.method} not allowed`);
  const path = new URL(req.url ?? "/", "https://metrics").pathname;
  if (path === "/discovery") {
    const groups = opts.discovery ? await opts.discovery() : [];
    return reply(res, 200, JSON.stringify(groups), "application/json");
  }
  const m = /^\/metrics\/([A-Za-z0-9_-]+)$/.exec(path);
  if (!m) return reply(res, 404, `no such path ${JSON.stringify(path)}`);
  const name = m[1];
  if (name === "core") return reply(res, 200, coreMetrics(), "text/plain; version=0.0.4");
  if (!Object.hasOwn(exporters, name)) return reply(res, 404, `unknown exporter "${name}"`);
  await proxy(res, exporters[name], name, stop);
}

/**
 * Runnable: serves the metrics endpoint until `ctx` is aborted. Signals Healthy once listening;
 * fails when the port cannot be bound.
 */
export async function runMetrics(ctx: Context, opts: MetricsOptions): Promise<void> {
  const exporters = opts.exporters ?? { ...EXPORTER_PORTS };
  for (const [name, port] of Object.entries(exporters)) {
    if (!Number.isInteger(port) || port <= 0 || port > 65535) {
      throw new Error(`metrics: exporter "${name}" has invalid port ${port}`);
    }
  }
  const server = https.createServer({
    cert: certificatePem(opts.certificate),
    key: await exportPkcs8Pem(opts.privateKey),
    requestCert: true,
    rejectUnauthorized: false,
  }, (req, res) => {
    handle(req, res, opts, exporters, ctx.signal).catch((e) => {
      ctx.logger.warning(`request ${req.url}: ${(e as Error).message}`);
      if (!res.headersSent) reply(res, 500, "internal error");
      else res.destroy();
    });
  });
  const errored = Promise.withResolvers<never>();
  server.on("error", (e) => errored.reject(e));
  const listening = new Promise<void>((resolve) =>
    server.listen(opts.port ?? METRICS_PORT, opts.host, () => resolve())
  );
  await Promise.race([listening, errored.promise]);
  const port = (server.address() as AddressInfo).port;
  ctx.logger.info(`metrics: listening on ${opts.host ?? "*"}:${port}`);
  opts.onListening?.(port);
  signal(ctx, "healthy");
  const aborted = new Promise<void>((resolve) => {
    if (ctx.signal.aborted) return resolve();
    ctx.signal.addEventListener("abort", () => resolve(), { once: true });
  });
  try {
    await Promise.race([aborted, errored.promise]);
  } finally {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections?.();
    await closed;
  }
}
