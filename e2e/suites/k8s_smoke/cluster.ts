/**
 * Starts a one-node Kubernetes control plane and worker inside a {@link NsNode}: etcd (TLS),
 * kube-apiserver, kube-controller-manager, kube-scheduler, containerd (with preseeded images)
 * and kubelet, with the flags of kubernetes.md §5–§7 (etcd over TLS on 127.0.0.1 instead of the
 * node's consensus socket). A de-risk harness: the real role wiring must reuse the pieces it
 * uses (containerd config, preseed, PKI profiles, kubeconfigs, the kube binary).
 */
import type { NsNode } from "./nsnode.ts";
import { makeSmokePki, type SmokePki } from "./pki.ts";
import { renderKubeconfig } from "../../../node/kubernetes/pki/kubeconfig.ts";
import {
  type ContainerdPaths,
  hasSysResource,
  renderCniTemplate,
  renderContainerdConfig,
} from "../../../node/kubernetes/containerd/config.ts";
import { importPreseed } from "../../../node/kubernetes/containerd/preseed.ts";
import { apiserverArgs } from "../../../node/kubernetes/apiserver/apiserver.ts";
import { controllerManagerArgs } from "../../../node/kubernetes/controller_manager/controller_manager.ts";
import { schedulerArgs } from "../../../node/kubernetes/scheduler/scheduler.ts";

/** What the cluster needs from outside. */
export interface SmokeClusterOptions {
  node: NsNode;
  /** Path of the kube multicall binary. */
  kube: string;
  /** Kubernetes node name. */
  nodeName: string;
  /** Sandbox image reference and all OCI archives to preseed. */
  sandboxImage: string;
  archives: string[];
  /**
   * How the apiserver reaches etcd: `tls` (https on 127.0.0.1:2379, client certificates) or
   * `unix` (plain gRPC over `<workDir>/etcd-sock/client.sock:0`, the real node's shape,
   * kubernetes.md §2). Default `tls`.
   */
  etcd?: "tls" | "unix";
}

/** A small client for the apiserver with the `master` identity, dialled from the host. */
export class Api {
  readonly base: string;
  readonly #client: Deno.HttpClient;

  constructor(base: string, pki: SmokePki) {
    this.base = base;
    this.#client = Deno.createHttpClient({
      caCerts: [pki.caPem],
      cert: pki.masterPem.cert,
      key: pki.masterPem.key,
    });
  }

  /** Performs a request; returns status and parsed JSON (or text) body. */
  // deno-lint-ignore no-explicit-any -- Kubernetes objects are arbitrary JSON here
  async req(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const r = await fetch(`${this.base}${path}`, {
      method,
      client: this.#client,
      headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(10000),
    });
    const text = await r.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch { /* not JSON */ }
    return { status: r.status, body: parsed };
  }

  /** Releases the HTTP client. */
  close() {
    this.#client.close();
  }
}

/** Polls `fn` every `ms` until it returns a value other than undefined, or throws on timeout. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  fn: () => Promise<T | undefined>,
  ms = 500,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, ms));
  }
  throw new Error(
    `timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${last}` : ""}`,
  );
}

/** The started cluster. */
export interface SmokeCluster {
  pki: SmokePki;
  api: Api;
  paths: ContainerdPaths;
}

/** Issues the PKI, writes all kubeconfigs and starts etcd and kube-apiserver. */
export async function startControlPlane(o: SmokeClusterOptions): Promise<SmokeCluster> {
  const { node, kube } = o;
  const w = node.opts.workDir;
  const ip = node.opts.nodeAddr;
  const pki = await makeSmokePki(`${w}/pki`, o.nodeName, ip);
  const c = pki.certs;

  await Deno.mkdir(`${w}/etcd`, { recursive: true, mode: 0o700 });
  const peer = [
    "--listen-peer-urls=http://127.0.0.1:2380",
    "--initial-advertise-peer-urls=http://127.0.0.1:2380",
    "--initial-cluster=smoke=http://127.0.0.1:2380",
  ];
  let etcdFlags: string[];
  if (o.etcd === "unix") {
    // etcd 3.4 only takes host:port URLs: run it in the socket's directory (workplace.md §4).
    const sockDir = `${w}/etcd-sock`;
    await Deno.mkdir(sockDir, { mode: 0o700 });
    node.start("etcd", [
      "etcd",
      "--name=smoke",
      `--data-dir=${w}/etcd`,
      "--listen-client-urls=unix://client.sock:0",
      "--advertise-client-urls=unix://client.sock:0",
      ...peer,
    ], { cwd: sockDir });
    etcdFlags = [`--etcd-servers=unix://${sockDir}/client.sock:0`];
  } else {
    node.start("etcd", [
      "etcd",
      "--name=smoke",
      `--data-dir=${w}/etcd`,
      "--listen-client-urls=https://127.0.0.1:2379",
      "--advertise-client-urls=https://127.0.0.1:2379",
      ...peer,
      `--cert-file=${c["etcd-server"].cert}`,
      `--key-file=${c["etcd-server"].key}`,
      `--trusted-ca-file=${pki.ca}`,
      "--client-cert-auth",
    ]);
    etcdFlags = [
      "--etcd-servers=https://127.0.0.1:2379",
      `--etcd-cafile=${pki.ca}`,
      `--etcd-certfile=${c["etcd-client"].cert}`,
      `--etcd-keyfile=${c["etcd-client"].key}`,
    ];
  }

  // The shipped flag list (node/kubernetes/apiserver), on this harness's file layout.
  node.start("kube-apiserver", [
    kube,
    "kube-apiserver",
    ...apiserverArgs({
      address: ip,
      etcdServers: etcdFlags[0].slice("--etcd-servers=".length),
      files: {
        dir: `${w}/pki`,
        idCa: pki.ca,
        aggregationCa: pki.aggregationCa,
        servingCert: c["apiserver"].cert,
        servingKey: c["apiserver"].key,
        kubeletClientCert: c["apiserver-kubelet-client"].cert,
        kubeletClientKey: c["apiserver-kubelet-client"].key,
        frontProxyCert: c["front-proxy-client"].cert,
        frontProxyKey: c["front-proxy-client"].key,
        serviceAccountKey: pki.saKey,
        serviceAccountPub: pki.saPub,
      },
    }),
    ...etcdFlags.slice(1),
  ]);

  const kubeconfig = async (name: string, cert: string) => {
    const path = `${w}/${name}.kubeconfig`;
    const text = renderKubeconfig({
      server: "https://127.0.0.1:6443",
      caPem: pki.caPem,
      certPem: await Deno.readTextFile(c[cert].cert),
      keyPem: await Deno.readTextFile(c[cert].key),
    });
    await Deno.writeTextFile(path, text, { mode: 0o600 });
    return path;
  };
  await kubeconfig("controller-manager", "controller-manager-client");
  await kubeconfig("scheduler", "scheduler-client");
  await kubeconfig("kubelet", "kubelet-client");
  // The real node uses its netservices identity, bound to a role by the reconciler (not run
  // here); the smoke test gives kube-proxy the master identity instead.
  await kubeconfig("kube-proxy", "master");

  const api = new Api(`https://${ip}:6443`, pki);
  const paths: ContainerdPaths = {
    root: `${w}/containerd/root`,
    state: `${w}/containerd/state`,
    socket: `${w}/containerd/state/client.sock`,
    runc: "/usr/sbin/runc",
    cniBin: "/usr/lib/cni",
    cniConf: `${w}/containerd/cni/conf`,
    cniTemplate: `${w}/containerd/conf/cni.conflist.tmpl`,
    ipamDir: `${w}/containerd/ipam`,
  };
  return { pki, api, paths };
}

/**
 * Starts kube-controller-manager and kube-scheduler. Call once the apiserver is ready: both exit
 * when the apiserver's RBAC bootstrap has not yet granted them access (the real role wiring
 * restarts them instead).
 */
export function startControllers(o: SmokeClusterOptions, cl: SmokeCluster): void {
  const { node, kube } = o;
  const w = node.opts.workDir;
  const cmKc = `${w}/controller-manager.kubeconfig`;
  node.start("kube-controller-manager", [
    kube,
    "kube-controller-manager",
    ...controllerManagerArgs({
      dir: w,
      kubeconfig: cmKc,
      idCa: cl.pki.ca,
      servingCert: cl.pki.certs["controller-manager"].cert,
      servingKey: cl.pki.certs["controller-manager"].key,
      serviceAccountKey: cl.pki.saKey,
    }),
  ]);
  const schedKc = `${w}/scheduler.kubeconfig`;
  node.start("kube-scheduler", [
    kube,
    "kube-scheduler",
    ...schedulerArgs({
      dir: w,
      kubeconfig: schedKc,
      servingCert: cl.pki.certs["scheduler"].cert,
      servingKey: cl.pki.certs["scheduler"].key,
    }),
  ]);
}

/** Starts containerd, imports the preseed archives, then starts the kubelet. */
export async function startWorker(o: SmokeClusterOptions, cl: SmokeCluster): Promise<void> {
  const { node, kube } = o;
  const w = node.opts.workDir;
  const p = cl.paths;
  await Deno.mkdir(`${w}/containerd/conf`, { recursive: true });
  await Deno.mkdir(p.cniConf, { recursive: true });
  await Deno.writeTextFile(
    `${w}/containerd/conf/config.toml`,
    renderContainerdConfig({
      paths: p,
      sandboxImage: o.sandboxImage,
      restrictOomScoreAdj: !hasSysResource(),
    }),
  );
  await Deno.writeTextFile(p.cniTemplate, renderCniTemplate(p));
  node.start("containerd", ["containerd", `--config=${w}/containerd/conf/config.toml`]);
  await waitFor("containerd socket", 30000, async () => {
    await node.run(["ctr", "--address", p.socket, "version"]);
    return true;
  });
  const refs = await importPreseed({
    address: p.socket,
    archives: o.archives,
    prefix: node.enterArgs(),
  });
  if (refs.length !== o.archives.length) {
    throw new Error(`preseed: imported ${refs.length} of ${o.archives.length} images: ${refs}`);
  }

  await Deno.mkdir(`${w}/kubelet`, { recursive: true });
  await Deno.writeTextFile(`${w}/resolv.conf`, "nameserver 127.0.0.1\n");
  const c = cl.pki.certs;
  const config = {
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    authentication: {
      x509: { clientCAFile: cl.pki.ca },
      webhook: { enabled: true },
      anonymous: { enabled: false },
    },
    authorization: { mode: "Webhook" },
    clusterDNS: ["169.254.77.53"],
    clusterDomain: "cluster.local",
    hairpinMode: "none",
    failSwapOn: false,
    maxPods: 253,
    cgroupDriver: "cgroupfs",
    cgroupRoot: `/${node.opts.cgroupRoot}`,
    containerRuntimeEndpoint: `unix://${p.socket}`,
    tlsCertFile: c["kubelet-server"].cert,
    tlsPrivateKeyFile: c["kubelet-server"].key,
    rotateCertificates: false,
    serverTLSBootstrap: false,
    readOnlyPort: 0,
    resolvConf: `${w}/resolv.conf`,
    podLogsDir: `${w}/kubelet/pod-logs`,
    // The host's disk is shared with builds: do not let eviction/GC remove preseeded images.
    evictionHard: {
      "memory.available": "50Mi",
      "nodefs.available": "1%",
      "imagefs.available": "1%",
    },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
  };
  await Deno.writeTextFile(`${w}/kubelet/config.json`, JSON.stringify(config, null, 2));
  node.start("kubelet", [
    kube,
    "kubelet",
    `--config=${w}/kubelet/config.json`,
    `--kubeconfig=${w}/kubelet.kubeconfig`,
    `--root-dir=${w}/kubelet/root`,
    `--hostname-override=${o.nodeName}`,
    `--node-ip=${node.opts.nodeAddr}`,
  ]);
}

/**
 * Starts kube-proxy in nftables mode (kubernetes.md §7) for this node. Conntrack limits are left
 * alone (they are host-global sysctls).
 */
export async function startKubeProxy(o: SmokeClusterOptions): Promise<void> {
  const w = o.node.opts.workDir;
  const config = {
    apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
    kind: "KubeProxyConfiguration",
    mode: "nftables",
    clusterCIDR: "10.192.0.0/11",
    hostnameOverride: o.nodeName,
    nodePortAddresses: [`${o.node.opts.nodeAddr}/32`],
    clientConnection: { kubeconfig: `${w}/kube-proxy.kubeconfig` },
    metricsBindAddress: "127.0.0.1:10249",
    healthzBindAddress: "127.0.0.1:10256",
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" },
  };
  await Deno.writeTextFile(`${w}/kube-proxy.json`, JSON.stringify(config, null, 2));
  o.node.start("kube-proxy", [o.kube, "kube-proxy", `--config=${w}/kube-proxy.json`]);
}
