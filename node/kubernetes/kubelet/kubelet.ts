/**
 * The kubelet (kubernetes.md §7): {@link kubeletConfig} and {@link kubeletArgs} compute its
 * KubeletConfiguration and command line from the worker's facts (pure, tested), {@link kubelet}
 * writes the config and runs `kube kubelet` once containerd is ready.
 */
import type { Runnable } from "../../base/supervisor/supervisor.ts";
import type { Value } from "../../base/event/value.ts";
import { BIN, CHILD_PATH, DATA, ephemeralDir, NET } from "../paths.ts";
import { NODE_PATHS } from "../containerd/config.ts";
import { FEATURE_GATES } from "../featuregates.ts";
import { firstChange, healthzProbe, runUntilChanged } from "./restart.ts";
import { placeIn } from "../../core/cgroups/node_cgroups.ts";

/** What the kubelet's configuration depends on. */
export interface KubeletOptions {
  /** Node ID = Kubernetes node name. */
  nodeId: string;
  /** The node's external address (`--node-ip`). */
  address: string;
  /** cgroup the kubelet puts `kubepods` below (WorkerHost.cgroupRoot). */
  cgroupRoot: string;
  /** Files written by the worker credentials (ephemeralDir("kubelet")). */
  files: {
    /** id-ca PEM (client CA of the kubelet's server). */
    ca: string;
    serverCert: string;
    serverKey: string;
    kubeconfig: string;
  };
  /** containerd's CRI socket; default the node's. */
  containerdSocket?: string;
  /** Root directory; default /data/kubernetes/kubelet. */
  rootDir?: string;
  /** Pod log directory; default /data/kubernetes/pod-logs (must not be below rootDir's pods). */
  podLogsDir?: string;
  /** resolv.conf handed to pods with dnsPolicy Default; default /ephemeral/resolv.conf. */
  resolvConf?: string;
}

/** Where the kubelet's rendered configuration goes. */
export const KUBELET_CONFIG = `${ephemeralDir("kubelet")}/config.json`;
/** Pod logs (kubelet's podLogsDir): on /data like every other kubelet state. */
export const POD_LOGS_DIR = "/data/kubernetes/pod-logs";

/** Returns the KubeletConfiguration (kubelet.config.k8s.io/v1beta1) as a JSON-able object. */
export function kubeletConfig(o: KubeletOptions): Record<string, unknown> {
  return {
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    authentication: {
      x509: { clientCAFile: o.files.ca },
      webhook: { enabled: true },
      anonymous: { enabled: false },
    },
    authorization: { mode: "Webhook" },
    clusterDNS: [NET.clusterDns],
    clusterDomain: NET.clusterDomain,
    hairpinMode: "none",
    failSwapOn: false,
    maxPods: 253,
    cgroupDriver: "cgroupfs",
    cgroupRoot: o.cgroupRoot,
    containerRuntimeEndpoint: `unix://${o.containerdSocket ?? NODE_PATHS.socket}`,
    tlsCertFile: o.files.serverCert,
    tlsPrivateKeyFile: o.files.serverKey,
    rotateCertificates: false,
    serverTLSBootstrap: false,
    readOnlyPort: 0,
    resolvConf: o.resolvConf ?? "/ephemeral/resolv.conf",
    // The default /var/log/pods is not writable: the node's root is read-only.
    podLogsDir: o.podLogsDir ?? POD_LOGS_DIR,
    // Default 127.0.0.1:10248: keep it, the worker probes it for readiness.
    healthzBindAddress: "127.0.0.1",
    healthzPort: KUBELET_HEALTHZ_PORT,
    // No static pods, and nothing else of the node's filesystem is the kubelet's business.
    staticPodPath: "",
    // Namespace nodes share the host's disk with builds; image GC/eviction must not remove
    // preseeded images (there is no registry to pull them back from).
    evictionHard: {
      "memory.available": "50Mi",
      "nodefs.available": "1%",
      "imagefs.available": "1%",
    },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    // The apiserver's set (kubernetes.md §5).
    featureGates: { ...FEATURE_GATES },
  };
}

/** The kubelet's healthz port on 127.0.0.1. */
export const KUBELET_HEALTHZ_PORT = 10248;

/** Returns the kubelet's argv after `kube` (config file path given). */
export function kubeletArgs(o: KubeletOptions, configPath = KUBELET_CONFIG): string[] {
  return [
    "kubelet",
    `--config=${configPath}`,
    `--kubeconfig=${o.files.kubeconfig}`,
    `--root-dir=${o.rootDir ?? DATA.kubelet}`,
    `--hostname-override=${o.nodeId}`,
    `--node-ip=${o.address}`,
  ];
}

/** Options of the {@link kubelet} runnable. */
export interface KubeletRunOptions {
  nodeId: string;
  cgroupRoot: string;
  files: KubeletOptions["files"];
  /** The node's address; the kubelet restarts when it changes. */
  address: Value<string | undefined>;
  /** containerd ready (socket answering, preseed imported). */
  containerdReady: Value<boolean>;
}

const healthz = healthzProbe(`http://127.0.0.1:${KUBELET_HEALTHZ_PORT}/healthz`);

/**
 * Runs the kubelet: waits for containerd and an address, writes the config, starts `kube
 * kubelet`, Healthy once its healthz answers. A changed address or containerd going away stops
 * it and fails the run, so the supervisor restarts it with the new facts.
 */
export function kubelet(o: KubeletRunOptions): Runnable {
  return async (ctx) => {
    await o.containerdReady.waitFor((r) => r, ctx.signal);
    const address = await o.address.waitFor((a) => !!a, ctx.signal) as string;
    const opts: KubeletOptions = {
      nodeId: o.nodeId,
      address,
      cgroupRoot: o.cgroupRoot,
      files: o.files,
    };
    await Deno.mkdir(DATA.kubelet, { recursive: true, mode: 0o700 });
    await Deno.mkdir(POD_LOGS_DIR, { recursive: true, mode: 0o755 });
    await Deno.writeTextFile(KUBELET_CONFIG, JSON.stringify(kubeletConfig(opts), null, 2), {
      mode: 0o600,
    });
    await runUntilChanged(
      ctx,
      [BIN.kube, ...kubeletArgs(opts)],
      {
        parser: "klog",
        env: { PATH: CHILD_PATH },
        clearEnv: true,
        readiness: healthz,
        readinessIntervalMs: 500,
        onSpawn: placeIn("kubernetes-runtime"),
      },
      (signal) => [
        firstChange(o.address, (a) => a !== address, (a) => `node address is now ${a}`, signal),
        firstChange(o.containerdReady, (r) => !r, () => "containerd is not ready", signal),
      ],
    );
  };
}
