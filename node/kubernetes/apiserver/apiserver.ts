/**
 * kube-apiserver on a KubernetesController (kubernetes.md §5): {@link apiserverArgs} computes its
 * command line (pure, tested); {@link apiserver} writes its PKI files and runs `kube
 * kube-apiserver` on the node's etcd socket, and restarts it when the node address changes
 * (`--advertise-address` is what the `kubernetes` Service's endpoints point to).
 */
import type { Value } from "../../base/event/value.ts";
import { runCommand } from "../../base/supervisor/runcommand.ts";
import { placeIn } from "../../core/cgroups/node_cgroups.ts";
import { run, type Runnable, signal } from "../../base/supervisor/supervisor.ts";
import type { LocalControlPlane } from "../../core/roleserve/context.ts";
import { pemFiles, writeComponentFiles } from "../pki/files.ts";
import type { KubernetesPKI } from "../pki/kubepki.ts";
import { APISERVER_LOCAL, BIN, CHILD_PATH, ephemeralDir, NET, PORTS } from "../paths.ts";
import { FEATURE_GATES } from "../featuregates.ts";

/** Paths of the files the apiserver reads (all below one component directory). */
export interface ApiserverFiles {
  dir: string;
  idCa: string;
  aggregationCa: string;
  servingCert: string;
  servingKey: string;
  kubeletClientCert: string;
  kubeletClientKey: string;
  frontProxyCert: string;
  frontProxyKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
}

/** The file layout in `dir` (default /ephemeral/kubernetes/apiserver). */
export function apiserverFiles(dir: string = ephemeralDir("apiserver")): ApiserverFiles {
  return {
    dir,
    idCa: `${dir}/id-ca.crt`,
    aggregationCa: `${dir}/aggregation-ca.crt`,
    servingCert: `${dir}/apiserver.crt`,
    servingKey: `${dir}/apiserver.key`,
    kubeletClientCert: `${dir}/apiserver-kubelet-client.crt`,
    kubeletClientKey: `${dir}/apiserver-kubelet-client.key`,
    frontProxyCert: `${dir}/front-proxy-client.crt`,
    frontProxyKey: `${dir}/front-proxy-client.key`,
    serviceAccountKey: `${dir}/service-account.key`,
    serviceAccountPub: `${dir}/service-account.pub`,
  };
}

/** What the apiserver's command line depends on. */
export interface ApiserverOptions {
  /** The node's external address (`--advertise-address`). */
  address: string;
  /** `--etcd-servers`: default the node's etcd socket `unix://<etcdSocketDir>/client.sock:0`. */
  etcdServers: string;
  files: ApiserverFiles;
  /** Feature gates; the same set must be given to the kubelets (kubernetes.md §5). */
  featureGates?: Readonly<Record<string, boolean>>;
}

/** The etcd URL of the node's consensus socket directory (etcd listens on `client.sock:0`). */
export function etcdSocketUrl(socketDir: string): string {
  if (!socketDir.startsWith("/")) throw new Error(`etcd socket dir must be absolute: ${socketDir}`);
  return `unix://${socketDir}/client.sock:0`;
}

/** `--feature-gates` value (sorted, so equal sets give equal command lines). */
export function featureGatesFlag(gates: Readonly<Record<string, boolean>>): string | undefined {
  const keys = Object.keys(gates).sort();
  return keys.length ? keys.map((k) => `${k}=${gates[k]}`).join(",") : undefined;
}

/** Arguments after `kube kube-apiserver` (kubernetes.md §5). */
export function apiserverArgs(o: ApiserverOptions): string[] {
  const f = o.files;
  const gates = featureGatesFlag(o.featureGates ?? {});
  return [
    `--advertise-address=${o.address}`,
    `--secure-port=${PORTS.apiserver}`,
    `--etcd-servers=${o.etcdServers}`,
    // Disjoint from the agent's own keys (curator/, kubernetes/, etcd-pki/) in the same etcd.
    "--etcd-prefix=/registry",
    "--authorization-mode=Node,RBAC",
    "--enable-admission-plugins=NodeRestriction",
    `--client-ca-file=${f.idCa}`,
    `--kubelet-client-certificate=${f.kubeletClientCert}`,
    `--kubelet-client-key=${f.kubeletClientKey}`,
    "--kubelet-preferred-address-types=InternalIP",
    `--proxy-client-cert-file=${f.frontProxyCert}`,
    `--proxy-client-key-file=${f.frontProxyKey}`,
    `--requestheader-client-ca-file=${f.aggregationCa}`,
    "--requestheader-allowed-names=front-proxy-client,metropolis-auth-proxy-client",
    "--requestheader-username-headers=X-Remote-User",
    "--requestheader-group-headers=X-Remote-Group",
    "--requestheader-extra-headers-prefix=X-Remote-Extra-",
    `--service-account-key-file=${f.serviceAccountPub}`,
    `--service-account-signing-key-file=${f.serviceAccountKey}`,
    `--service-account-issuer=${NET.serviceAccountIssuer}`,
    `--service-cluster-ip-range=${NET.serviceCidr}`,
    `--service-node-port-range=${NET.nodePortRange}`,
    `--tls-cert-file=${f.servingCert}`,
    `--tls-private-key-file=${f.servingKey}`,
    "--allow-privileged=true",
    "--enable-aggregator-routing=true",
    ...(gates ? [`--feature-gates=${gates}`] : []),
  ];
}

/** Writes every file of {@link apiserverFiles} from the PKI; returns the id-ca PEM. */
export async function writeApiserverFiles(pki: KubernetesPKI, f: ApiserverFiles): Promise<string> {
  const [idCa, aggCa, serving, kubeletClient, frontProxy, sa] = await Promise.all([
    pki.caPem("id-ca"),
    pki.caPem("aggregation-ca"),
    pki.identity("apiserver"),
    pki.identity("apiserver-kubelet-client"),
    pki.identity("front-proxy-client"),
    pki.serviceAccountKey(),
  ]);
  await writeComponentFiles(f.dir, {
    "id-ca.crt": idCa,
    "aggregation-ca.crt": aggCa,
    ...pemFiles("apiserver", serving),
    ...pemFiles("apiserver-kubelet-client", kubeletClient),
    ...pemFiles("front-proxy-client", frontProxy),
    "service-account.key": sa.keyPem,
    "service-account.pub": sa.pubPem,
  });
  return idCa;
}

/**
 * A readiness probe: true once `GET <server>/readyz` answers 200, verifying the serving
 * certificate against `caPem` (anonymous requests may read /readyz).
 */
export function readyzProbe(
  caPem: string,
  server: string = APISERVER_LOCAL,
): (signal: AbortSignal) => Promise<boolean> {
  return async (signal) => {
    const client = Deno.createHttpClient({ caCerts: [caPem] });
    try {
      const r = await fetch(`${server}/readyz`, {
        client,
        signal: AbortSignal.any([signal, AbortSignal.timeout(2000)]),
      });
      await r.body?.cancel();
      return r.status === 200;
    } finally {
      client.close();
    }
  };
}

/** What the apiserver runnable needs. */
export interface ApiserverDeps {
  pki: KubernetesPKI;
  /** The node's external address; the apiserver starts once it is known. */
  address: Value<string | undefined>;
  controlPlane: LocalControlPlane;
  /** Default {@link FEATURE_GATES} (the kubelets' set). */
  featureGates?: Readonly<Record<string, boolean>>;
  /** Component directory (default /ephemeral/kubernetes/apiserver); tests use a temporary one. */
  dir?: string;
  /** The `kube` binary (default the payload's). */
  kube?: string;
}

/**
 * Runs the apiserver as its child `process` (Healthy once /readyz answers). When the node
 * address changes, this runnable throws: the supervisor stops `process` (SIGTERM, waits for the
 * exit) before restarting, so the old apiserver never holds :6443 next to the new one.
 */
export function apiserver(deps: ApiserverDeps): Runnable {
  return async (ctx) => {
    const address = await deps.address.waitFor((a) => !!a, ctx.signal) as string;
    const files = apiserverFiles(deps.dir);
    const caPem = await writeApiserverFiles(deps.pki, files);
    const argv = [
      deps.kube ?? BIN.kube,
      "kube-apiserver",
      ...apiserverArgs({
        address,
        etcdServers: etcdSocketUrl(deps.controlPlane.socketDir),
        files,
        featureGates: deps.featureGates ?? FEATURE_GATES,
      }),
    ];
    run(ctx, "process", (c) =>
      runCommand(c, argv, {
        parser: "klog",
        clearEnv: true,
        env: { PATH: CHILD_PATH },
        readiness: readyzProbe(caPem),
        readinessIntervalMs: 500,
        onSpawn: placeIn("kubernetes-control"),
      }));
    signal(ctx, "healthy");
    for await (const next of deps.address.watch({ signal: ctx.signal })) {
      if (next && next !== address) {
        throw new Error(`node address changed from ${address} to ${next}: restarting`);
      }
    }
  };
}
