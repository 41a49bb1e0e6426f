/**
 * kube-proxy in nftables mode (kubernetes.md §7, §9): {@link kubeProxyConfig} computes its
 * KubeProxyConfiguration (pure, tested), {@link kubeProxy} writes it and runs `kube kube-proxy`.
 */
import type { Value } from "../../base/event/value.ts";
import type { Runnable } from "../../base/supervisor/supervisor.ts";
import { BIN, CHILD_PATH, ephemeralDir, NET } from "../paths.ts";
import { firstChange, healthzProbe, runUntilChanged } from "../kubelet/restart.ts";
import { placeIn } from "../../core/cgroups/node_cgroups.ts";

/** What kube-proxy's configuration depends on. */
export interface KubeProxyOptions {
  /** Node ID = Kubernetes node name. */
  nodeId: string;
  /** The node's external address: NodePorts are served on it only. */
  address: string;
  /** Kubeconfig with the netservices identity (→ apiproxy). */
  kubeconfig: string;
}

/** Where the rendered configuration goes. */
export const KUBE_PROXY_CONFIG = `${ephemeralDir("netservices")}/kube-proxy.json`;
/** Metrics and healthz on loopback only. */
export const KUBE_PROXY_METRICS = "127.0.0.1:10249";
export const KUBE_PROXY_HEALTHZ = "127.0.0.1:10256";

/** Returns the KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1). */
export function kubeProxyConfig(o: KubeProxyOptions): Record<string, unknown> {
  return {
    apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
    kind: "KubeProxyConfiguration",
    mode: "nftables",
    clusterCIDR: NET.clusterCidr,
    hostnameOverride: o.nodeId,
    nodePortAddresses: [`${o.address}/32`],
    clientConnection: { kubeconfig: o.kubeconfig },
    metricsBindAddress: KUBE_PROXY_METRICS,
    healthzBindAddress: KUBE_PROXY_HEALTHZ,
    // Conntrack limits are host-global sysctls on namespace nodes: never touch them (0 = leave
    // the kernel's value).
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" },
  };
}

/** Returns kube-proxy's argv after `kube`. */
export function kubeProxyArgs(configPath = KUBE_PROXY_CONFIG): string[] {
  return ["kube-proxy", `--config=${configPath}`];
}

/** Options of the {@link kubeProxy} runnable. */
export interface KubeProxyRunOptions {
  nodeId: string;
  kubeconfig: string;
  /** The node's address; kube-proxy restarts when it changes. */
  address: Value<string | undefined>;
}

const healthz = healthzProbe(`http://${KUBE_PROXY_HEALTHZ}/healthz`);

/** Runs kube-proxy; Healthy once it has synced its rules; restarts when the address changes. */
export function kubeProxy(o: KubeProxyRunOptions): Runnable {
  return async (ctx) => {
    const address = await o.address.waitFor((a) => !!a, ctx.signal) as string;
    const cfg = kubeProxyConfig({ nodeId: o.nodeId, address, kubeconfig: o.kubeconfig });
    await Deno.writeTextFile(KUBE_PROXY_CONFIG, JSON.stringify(cfg, null, 2), { mode: 0o600 });
    await runUntilChanged(
      ctx,
      [BIN.kube, ...kubeProxyArgs()],
      {
        parser: "klog",
        // nftables mode runs `nft` from PATH.
        env: { PATH: CHILD_PATH },
        clearEnv: true,
        readiness: healthz,
        readinessIntervalMs: 500,
        onSpawn: placeIn("kubernetes-runtime"),
      },
      (signal) => [
        firstChange(o.address, (a) => a !== address, (a) => `node address is now ${a}`, signal),
      ],
    );
  };
}
