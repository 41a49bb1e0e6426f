/**
 * Metrics of the controller components for the node's metrics service (node.md §17,
 * kubernetes.md §5): plain HTTP on 127.0.0.1:7845/7844/7843, each `GET /metrics` forwarded over
 * TLS to the component's secure port with the `master` identity. The components' serving
 * certificates name `localhost`, `kube-controller-manager.local` and `kube-scheduler.local`, not
 * 127.0.0.1, so the forwarder dials 127.0.0.1 and verifies that name (node:https `servername`;
 * Deno's fetch can only verify the host it dials).
 */
import https from "node:https";
import { type Runnable, signal } from "../../base/supervisor/supervisor.ts";
import type { KubernetesPKI } from "../pki/kubepki.ts";
import { PORTS } from "../paths.ts";

/** One forwarded component. */
export interface MetricsTarget {
  /** Plain HTTP port on 127.0.0.1 the metrics service reads. */
  listen: number;
  /** The component's secure port on 127.0.0.1. */
  port: number;
  /** Name its serving certificate carries. */
  serverName: string;
}

/** The controller components (their secure ports are the upstream defaults). */
export const METRICS_TARGETS: Record<
  "apiserver" | "controller-manager" | "scheduler",
  MetricsTarget
> = {
  "apiserver": { listen: PORTS.metricsApiserver, port: PORTS.apiserver, serverName: "localhost" },
  "controller-manager": {
    listen: PORTS.metricsControllerManager,
    port: 10257,
    serverName: "kube-controller-manager.local",
  },
  "scheduler": { listen: PORTS.metricsScheduler, port: 10259, serverName: "kube-scheduler.local" },
};

/** TLS material of the forwarder: id-ca and the `master` identity (PEM). */
export interface ForwardCredentials {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** Fetches `/metrics` of `t` and returns it as a Response (502 with the reason on failure). */
export function forwardMetrics(
  t: MetricsTarget,
  creds: ForwardCredentials,
  signal: AbortSignal,
): Promise<Response> {
  return new Promise((resolve) => {
    const req = https.request({
      host: "127.0.0.1",
      port: t.port,
      path: "/metrics",
      method: "GET",
      servername: t.serverName,
      ca: creds.caPem,
      cert: creds.certPem,
      key: creds.keyPem,
      signal,
      timeout: 10_000,
    }, (res) => {
      const chunks: Uint8Array[] = [];
      res.on("data", (c: Uint8Array) => chunks.push(c));
      res.on("end", () => {
        const headers = new Headers();
        const ct = res.headers["content-type"];
        if (typeof ct === "string") headers.set("content-type", ct);
        resolve(
          new Response(new Blob(chunks as BlobPart[]), { status: res.statusCode ?? 502, headers }),
        );
      });
      res.on("error", (e: Error) => resolve(badGateway(t, e)));
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", (e: Error) => resolve(badGateway(t, e)));
    req.end();
  });
}

function badGateway(t: MetricsTarget, e: Error): Response {
  return new Response(`${t.serverName}:${t.port}: ${e.message}\n`, { status: 502 });
}

/** What the metrics forwarder needs. */
export interface MetricsProxyDeps {
  pki: KubernetesPKI;
  /** Default {@link METRICS_TARGETS}; tests use free ports. */
  targets?: MetricsTarget[];
}

/** Serves every target's forwarder until aborted; Healthy once all listen. */
export function metricsProxy(deps: MetricsProxyDeps): Runnable {
  return async (ctx) => {
    const [caPem, master] = await Promise.all([
      deps.pki.caPem("id-ca"),
      deps.pki.identity("master"),
    ]);
    const creds = { caPem, ...master };
    const servers = (deps.targets ?? Object.values(METRICS_TARGETS)).map((t) =>
      Deno.serve({
        hostname: "127.0.0.1",
        port: t.listen,
        signal: ctx.signal,
        onListen() {},
      }, (req) => {
        if (req.method !== "GET" || new URL(req.url).pathname !== "/metrics") {
          return new Response("not found\n", { status: 404 });
        }
        return forwardMetrics(t, creds, ctx.signal);
      })
    );
    signal(ctx, "healthy");
    await Promise.all(servers.map((s) => s.finished));
  };
}
