/**
 * The kubeconfig entry (metroctl.md §8): pins the Kubernetes API server certificate of the first
 * endpoint (6444) and writes cluster, user (exec credential plugin) and context entries named
 * `<context>` into `$KUBECONFIG` (first path) or `~/.kube/config`, preserving other entries.
 */
import { PORTS } from "../../node/core/constants/ports.ts";
import tls from "node:tls";
import type { DetailedPeerCertificate } from "node:tls";
import { dirname, join } from "node:path";
import yaml from "js-yaml";
import { certificatePem, parseCertificate } from "../../node/base/pki/info.ts";
import { equalBytes } from "../../node/base/pki/keys.ts";
import { parseHostPort } from "../../node/base/socks/protocol.ts";
import { startSocksRelay } from "../../node/base/socks/relay.ts";
import { installIpServernameFix } from "../../node/core/rpc/servername.ts";
import { joinHostPort } from "../../node/core/rpc/resolver.ts";

/** Port of the Kubernetes API server as exposed by nodes. */
export const KUBERNETES_PORT = PORTS.authproxy;

/** The host part of an `--endpoints` value (which may carry a port). */
export function endpointHost(endpoint: string): string {
  try {
    return parseHostPort(endpoint).host;
  } catch {
    return endpoint.replace(/^\[(.*)\]$/, "$1");
  }
}

/**
 * TLS-dials `host:6444` and returns the single DNS SAN (node ID) of the server's certificate,
 * which must be the only certificate and signed by `ca`.
 */
export async function pinKubernetesServer(
  host: string,
  ca: Uint8Array,
  proxy?: string,
): Promise<string> {
  installIpServernameFix();
  const target = joinHostPort(host, KUBERNETES_PORT);
  const relay = proxy
    ? await startSocksRelay(parseHostPort(proxy), parseHostPort(target))
    : undefined;
  const dest = parseHostPort(relay?.address ?? target);
  try {
    const peer = await new Promise<DetailedPeerCertificate>((resolve, reject) => {
      const s = tls.connect({
        host: dest.host,
        port: dest.port,
        ca: certificatePem(ca),
        // The name is checked below (exactly one DNS SAN, pinned), not against the dialled IP.
        checkServerIdentity: () => undefined,
        servername: "kubernetes",
        timeout: 10_000,
      }, () => {
        const c = s.getPeerCertificate(true);
        s.destroy();
        resolve(c);
      });
      s.on("timeout", () => s.destroy(new Error("timed out")));
      s.on("error", reject);
    }).catch((e) => {
      throw new Error(
        `Kubernetes API server at ${target} not reachable (Kubernetes may not be running yet): ${
          (e as Error).message
        }`,
      );
    });
    const issuer = peer.issuerCertificate;
    if (issuer && issuer !== peer && !equalBytes(new Uint8Array(issuer.raw), ca)) {
      throw new Error("Kubernetes server presented more than one certificate");
    }
    const names = parseCertificate(new Uint8Array(peer.raw)).dnsNames;
    if (names.length !== 1) {
      throw new Error(
        `Kubernetes server certificate has ${names.length} DNS names, want exactly one`,
      );
    }
    return names[0];
  } finally {
    await relay?.close();
  }
}

/** The kubeconfig file to write: first path of `$KUBECONFIG`, else `~/.kube/config`. */
export function kubeconfigPath(): string {
  const env = Deno.env.get("KUBECONFIG");
  const first = env?.split(":").find((p) => p !== "");
  return first ?? join(Deno.env.get("HOME") ?? ".", ".kube", "config");
}

/** The exec command that runs this metroctl's credential plugin. */
export function pluginCommand(): { command: string; prefix: string[] } {
  const onPath = (Deno.env.get("PATH") ?? "").split(":").some((d) => {
    try {
      return d !== "" && Deno.statSync(join(d, "metroctl")).isFile;
    } catch {
      return false;
    }
  });
  if (onPath) return { command: "metroctl", prefix: [] };
  const exe = Deno.execPath();
  // A `deno compile` executable is the entry point itself; otherwise run the main module.
  if (!/\/deno$/.test(exe)) return { command: exe, prefix: [] };
  return { command: exe, prefix: ["run", "-A", new URL(Deno.mainModule).pathname] };
}

/** What goes into the kubeconfig entry. */
export interface KubeconfigEntry {
  context: string;
  /** Host of the first endpoint. */
  host: string;
  ca: Uint8Array;
  /** Pinned node ID (TLS server name). */
  nodeId: string;
  proxy?: string;
  configDir: string;
  endpoints: string[];
  /** The kubeconfig file (default {@link kubeconfigPath}). */
  path?: string;
  /** The credential plugin's command (default {@link pluginCommand}: this metroctl). */
  plugin?: { command: string; prefix: string[] };
}

type Named = { name: string; [k: string]: unknown };

function upsert(list: unknown, item: Named): Named[] {
  const l = Array.isArray(list) ? (list as Named[]).filter((e) => e?.name !== item.name) : [];
  return [...l, item];
}

/** Writes (merges) the entry; returns the file path. */
export async function writeKubeconfig(e: KubeconfigEntry): Promise<string> {
  const path = e.path ?? kubeconfigPath();
  let doc: Record<string, unknown> = {};
  let exists = true;
  try {
    doc = (yaml.load(await Deno.readTextFile(path)) as Record<string, unknown>) ?? {};
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) {
      throw new Error(`${path}: ${(err as Error).message}`);
    }
    exists = false;
  }
  const { command, prefix } = e.plugin ?? pluginCommand();
  const args = [...prefix, "k8scredplugin", "--config", e.configDir];
  if (e.proxy) args.push("--proxy", e.proxy);
  for (const ep of e.endpoints) args.push("--endpoints", ep);
  doc.apiVersion ??= "v1";
  doc.kind ??= "Config";
  doc.clusters = upsert(doc.clusters, {
    name: e.context,
    cluster: {
      server: `https://${joinHostPort(e.host, KUBERNETES_PORT)}`,
      "certificate-authority-data": btoa(certificatePem(e.ca)),
      "tls-server-name": e.nodeId,
      ...(e.proxy ? { "proxy-url": `socks5://${e.proxy}` } : {}),
    },
  });
  doc.users = upsert(doc.users, {
    name: e.context,
    user: {
      exec: {
        apiVersion: "client.authentication.k8s.io/v1",
        command,
        args,
        interactiveMode: "Never",
        installHint:
          "metroctl must be on PATH or at the path given in this kubeconfig's command; rerun 'metroctl k8s configure' after moving it.",
      },
    },
  });
  doc.contexts = upsert(doc.contexts, {
    name: e.context,
    context: { cluster: e.context, user: e.context, namespace: "default" },
  });
  if (!doc["current-context"]) doc["current-context"] = e.context;
  await Deno.mkdir(dirname(path), { recursive: true });
  await Deno.writeTextFile(path, yaml.dump(doc), exists ? {} : { mode: 0o600 });
  return path;
}
