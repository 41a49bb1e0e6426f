/**
 * kube-scheduler on a KubernetesController (kubernetes.md §5): {@link schedulerArgs} computes its
 * command line (pure, tested); {@link scheduler} writes its kubeconfig and serving certificate
 * and runs `kube kube-scheduler` against this node's apiserver (an exit while the apiserver is
 * not ready is restarted by the supervisor).
 */
import { runCommand } from "../../base/supervisor/runcommand.ts";
import { placeIn } from "../../core/cgroups/node_cgroups.ts";
import type { Runnable } from "../../base/supervisor/supervisor.ts";
import { pemFiles, writeComponentFiles } from "../pki/files.ts";
import type { KubernetesPKI } from "../pki/kubepki.ts";
import { BIN, CHILD_PATH, ephemeralDir } from "../paths.ts";

/** Paths of the files the scheduler reads. */
export interface SchedulerFiles {
  dir: string;
  kubeconfig: string;
  servingCert: string;
  servingKey: string;
}

/** The file layout in `dir` (default /ephemeral/kubernetes/scheduler). */
export function schedulerFiles(dir: string = ephemeralDir("scheduler")): SchedulerFiles {
  return {
    dir,
    kubeconfig: `${dir}/kubeconfig`,
    servingCert: `${dir}/scheduler.crt`,
    servingKey: `${dir}/scheduler.key`,
  };
}

/** Arguments after `kube kube-scheduler` (kubernetes.md §5). */
export function schedulerArgs(f: SchedulerFiles): string[] {
  return [
    `--kubeconfig=${f.kubeconfig}`,
    // Without these it cannot authenticate requests to its own secure port (metrics).
    `--authentication-kubeconfig=${f.kubeconfig}`,
    `--authorization-kubeconfig=${f.kubeconfig}`,
    `--tls-cert-file=${f.servingCert}`,
    `--tls-private-key-file=${f.servingKey}`,
    // Its secure port (metrics, healthz) is read only through the node's metrics proxy.
    "--bind-address=127.0.0.1",
    "--leader-elect=true",
  ];
}

/** Writes every file of {@link schedulerFiles} from the PKI. */
export async function writeSchedulerFiles(pki: KubernetesPKI, f: SchedulerFiles): Promise<void> {
  const [kubeconfig, serving] = await Promise.all([
    pki.kubeconfig("scheduler-client"),
    pki.identity("scheduler"),
  ]);
  await writeComponentFiles(f.dir, { "kubeconfig": kubeconfig, ...pemFiles("scheduler", serving) });
}

/** What the scheduler runnable needs. */
export interface SchedulerDeps {
  pki: KubernetesPKI;
  /** Component directory (default /ephemeral/kubernetes/scheduler). */
  dir?: string;
  /** The `kube` binary (default the payload's). */
  kube?: string;
}

/** Runs kube-scheduler until aborted; throws when it exits. */
export function scheduler(deps: SchedulerDeps): Runnable {
  return async (ctx) => {
    const files = schedulerFiles(deps.dir);
    await writeSchedulerFiles(deps.pki, files);
    await runCommand(ctx, [deps.kube ?? BIN.kube, "kube-scheduler", ...schedulerArgs(files)], {
      parser: "klog",
      clearEnv: true,
      env: { PATH: CHILD_PATH },
      onSpawn: placeIn("kubernetes-control"),
    });
  };
}
