/**
 * The Kubernetes payloads of namespace nodes: one directory per launched cluster with the same
 * layout as the full system image (node/kubernetes/paths.ts), which every node's private root
 * binds read-only at `/kubernetes` and `/containerd` (agent flag `--payloads`). Every node gets it,
 * so any node can take the KubernetesWorker role later (`metroctl node add role …`).
 *
 * Debian's binaries (the CNI plugins) are symlinks into `/usr` (bound into every node); the `kube`
 * binary, containerd 2 and runc, gVisor's `runsc` and shim and the preseeded OCI archives live in
 * the build cache, which nodes cannot see, so they are hard-linked (copied when the cache is on
 * another filesystem).
 */
import { buildContainerd } from "../../node/kubernetes/containerd/build.ts";
import { buildGvisor } from "../../node/kubernetes/gvisor/build.ts";
import { buildKube } from "../../node/kubernetes/hyperkube/build.ts";
import { CONTAINERD_PAYLOAD, KUBERNETES_PAYLOAD } from "../../node/kubernetes/paths.ts";
import { type PayloadInputs, payloadPlan } from "../../node/kubernetes/payloads.ts";
import { buildImages } from "../images/images.ts";

/** One step of laying out the payload directory (pure plan, see {@link payloadSteps}). */
export type PayloadStep =
  | { op: "symlink"; path: string; to: string }
  | { op: "link"; path: string; from: string };

/**
 * The steps building `<dir>` from the built artifacts (`kube`, containerd and runc, gVisor, the
 * image archives by name), following the shared plan of node/kubernetes/payloads.ts: Debian
 * payloads are symlinked to their host paths, built files hard-linked; payloads below `/usr` are
 * skipped (the node sees the host's `/usr`).
 */
export function payloadSteps(dir: string, inputs: PayloadInputs): PayloadStep[] {
  const steps: PayloadStep[] = [];
  for (const p of payloadPlan(inputs)) {
    if (p.source === "build") steps.push({ op: "link", path: `${dir}${p.path}`, from: p.from });
    else if (!p.hostUsr) steps.push({ op: "symlink", path: `${dir}${p.path}`, to: p.debian.host });
  }
  return steps;
}

/**
 * Builds (or finds cached) `kube`, containerd and runc, gVisor and the preseed images and lays out
 * `<stateDir>/payloads`; returns that directory. A rebuilt directory replaces the old one.
 */
export async function preparePayloads(stateDir: string, log: (l: string) => void): Promise<string> {
  const dir = `${stateDir}/payloads`;
  const [kube, runtime, gvisor, images] = await Promise.all([
    buildKube(),
    buildContainerd(),
    buildGvisor(),
    buildImages(),
  ]);
  const archives = Object.fromEntries(Object.entries(images).map(([n, i]) => [n, i.path]));
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  for (const p of [KUBERNETES_PAYLOAD, CONTAINERD_PAYLOAD]) {
    await Deno.mkdir(`${dir}${p}`, { recursive: true });
  }
  const shim = gvisor["containerd-shim-runsc-v1"];
  const inputs = { kube, runtime, archives, gvisor: { runsc: gvisor.runsc, shim } };
  for (const s of payloadSteps(dir, inputs)) {
    await Deno.mkdir(s.path.replace(/\/[^/]+$/, ""), { recursive: true });
    if (s.op === "symlink") await Deno.symlink(s.to, s.path);
    else {
      try {
        await Deno.link(s.from, s.path);
      } catch {
        await Deno.copyFile(s.from, s.path);
      }
    }
  }
  const n = Object.keys(archives).length;
  log(`Kubernetes payloads in ${dir} (kube, containerd, gVisor, ${n} images)`);
  return dir;
}
