/**
 * kube-controller-manager on a KubernetesController (kubernetes.md §5):
 * {@link controllerManagerArgs} computes its command line (pure, tested);
 * {@link controllerManager} writes its kubeconfig and keys and runs `kube
 * kube-controller-manager`. It talks to this node's apiserver only; while that apiserver (or its
 * RBAC bootstrap) is not there yet the process exits and the supervisor restarts it with backoff.
 */
import { runCommand } from "../../base/supervisor/runcommand.ts";
import { placeIn } from "../../core/cgroups/node_cgroups.ts";
import type { Runnable } from "../../base/supervisor/supervisor.ts";
import { pemFiles, writeComponentFiles } from "../pki/files.ts";
import type { KubernetesPKI } from "../pki/kubepki.ts";
import { BIN, CHILD_PATH, ephemeralDir, NET } from "../paths.ts";

/** Paths of the files the controller-manager reads. */
export interface ControllerManagerFiles {
  dir: string;
  kubeconfig: string;
  idCa: string;
  servingCert: string;
  servingKey: string;
  serviceAccountKey: string;
}

/** The file layout in `dir` (default /ephemeral/kubernetes/controller-manager). */
export function controllerManagerFiles(
  dir: string = ephemeralDir("controller-manager"),
): ControllerManagerFiles {
  return {
    dir,
    kubeconfig: `${dir}/kubeconfig`,
    idCa: `${dir}/id-ca.crt`,
    servingCert: `${dir}/controller-manager.crt`,
    servingKey: `${dir}/controller-manager.key`,
    serviceAccountKey: `${dir}/service-account.key`,
  };
}

/** Arguments after `kube kube-controller-manager` (kubernetes.md §5). */
export function controllerManagerArgs(f: ControllerManagerFiles): string[] {
  return [
    `--kubeconfig=${f.kubeconfig}`,
    `--authentication-kubeconfig=${f.kubeconfig}`,
    `--authorization-kubeconfig=${f.kubeconfig}`,
    `--cluster-cidr=${NET.clusterCidr}`,
    "--allocate-node-cidrs=true",
    `--node-cidr-mask-size=${NET.nodeCidrMaskSize}`,
    `--service-cluster-ip-range=${NET.serviceCidr}`,
    "--use-service-account-credentials=true",
    `--root-ca-file=${f.idCa}`,
    `--service-account-private-key-file=${f.serviceAccountKey}`,
    `--tls-cert-file=${f.servingCert}`,
    `--tls-private-key-file=${f.servingKey}`,
    // Its secure port (metrics, healthz) is read only through the node's metrics proxy.
    "--bind-address=127.0.0.1",
    "--leader-elect=true",
  ];
}

/** Writes every file of {@link controllerManagerFiles} from the PKI. */
export async function writeControllerManagerFiles(
  pki: KubernetesPKI,
  f: ControllerManagerFiles,
): Promise<void> {
  const [kubeconfig, idCa, serving, sa] = await Promise.all([
    pki.kubeconfig("controller-manager-client"),
    pki.caPem("id-ca"),
    pki.identity("controller-manager"),
    pki.serviceAccountKey(),
  ]);
  await writeComponentFiles(f.dir, {
    "kubeconfig": kubeconfig,
    "id-ca.crt": idCa,
    ...pemFiles("controller-manager", serving),
    "service-account.key": sa.keyPem,
  });
}

/** What the controller-manager runnable needs. */
export interface ControllerManagerDeps {
  pki: KubernetesPKI;
  /** Component directory (default /ephemeral/kubernetes/controller-manager). */
  dir?: string;
  /** The `kube` binary (default the payload's). */
  kube?: string;
}

/** Runs kube-controller-manager until aborted; throws when it exits. */
export function controllerManager(deps: ControllerManagerDeps): Runnable {
  return async (ctx) => {
    const files = controllerManagerFiles(deps.dir);
    await writeControllerManagerFiles(deps.pki, files);
    await runCommand(
      ctx,
      [deps.kube ?? BIN.kube, "kube-controller-manager", ...controllerManagerArgs(files)],
      {
        parser: "klog",
        clearEnv: true,
        env: { PATH: CHILD_PATH },
        onSpawn: placeIn("kubernetes-control"),
      },
    );
  };
}
