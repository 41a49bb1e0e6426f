/**
 * What the Kubernetes payloads of a node are and where each comes from — one table for the
 * `full` system image (os-image stages it into the erofs root) and for namespace nodes (the
 * launcher lays out a payload directory bound at `/kubernetes` and `/containerd`). The node-side
 * paths are those of paths.ts.
 *
 * Sources:
 * - `debian`: a file of an installed Debian package, at the same path on the build host as in
 *   the package (`/usr/…`);
 * - `build`: a file built by this repository (the `kube` binary, containerd 2, its runc shim, `ctr`
 *   and runc, gVisor's `runsc` and `containerd-shim-runsc-v1`, the preseeded OCI archives), given
 *   as a host path by the caller — this module imports no build code.
 *
 * Entries marked `hostUsr` live below `/usr` on the node (nft, which kube-proxy's nftables mode
 * finds on PATH; mount and umount, which the kubelet runs for volumes): the image stages them, while a namespace node already sees them through its
 * read-only `/usr` bind (node/core/platform/root_plan.ts), so the launcher lays nothing out.
 * @module
 */
import { BIN, CONTAINERD_PAYLOAD, PRESEED_DIR } from "./paths.ts";

/** A file of an installed Debian package. */
export interface DebianSource {
  /** Package name (its installed version goes into the image manifest). */
  pkg: string;
  /** Path on the build host, equal to the path inside the package. */
  host: string;
}

/**
 * The CNI plugins a node runs: `ptp` with `host-local` IPAM (the conflist of
 * containerd/config.ts `renderCniTemplate`) and `loopback`, which containerd's CRI runs for every
 * sandbox's `lo`. Debian ships 16 plugins (44 MB); the others are never called.
 */
export const CNI_PLUGINS: readonly string[] = ["host-local", "loopback", "ptp"];

/**
 * Node path → Debian source of the containerd payloads: the CNI plugins. containerd and runc are
 * built (Debian's 1.6 and 1.1 cannot run user-namespace pods; see {@link PayloadInputs.runtime}).
 */
export const DEBIAN_PAYLOADS: Readonly<Record<string, DebianSource>> = {
  ...Object.fromEntries(CNI_PLUGINS.map((p) => [
    `${BIN.cniDir}/${p}`,
    { pkg: "containernetworking-plugins", host: `/usr/lib/cni/${p}` },
  ])),
};

/** Node path → Debian source of tools below `/usr` the Kubernetes roles need. */
export const USR_PAYLOADS: Readonly<Record<string, DebianSource>> = {
  [`${BIN.nftDir}/nft`]: { pkg: "nftables", host: "/usr/sbin/nft" },
  [`${BIN.mountDir}/mount`]: { pkg: "mount", host: "/bin/mount" },
  [`${BIN.mountDir}/umount`]: { pkg: "mount", host: "/bin/umount" },
};

/** One payload of the plan (paths are node paths). */
export type Payload =
  | { path: string; source: "debian"; debian: DebianSource; hostUsr: boolean }
  | { path: string; source: "build"; from: string; mode: number };

/** Inputs of {@link payloadPlan}: host paths of the built artifacts. */
export interface PayloadInputs {
  /** The `kube` multicall binary (node/kubernetes/hyperkube/build.ts). */
  kube: string;
  /**
   * The container runtime (node/kubernetes/containerd/build.ts) by file name, each shipped as
   * `/containerd/bin/<name>`: at least containerd, ctr and runc (BIN), plus the runc shim that
   * containerd finds on its PATH.
   */
  runtime: Readonly<Record<string, string>>;
  /** Preseeded OCI archives by image name (`<name>.tar` in {@link PRESEED_DIR}). */
  archives: Record<string, string>;
  /**
   * gVisor (node/kubernetes/gvisor/build.ts): `runsc` and `containerd-shim-runsc-v1`. Without
   * them the node's containerd configures no runtime `runsc`.
   */
  gvisor?: { runsc: string; shim: string };
}

const byName = ([a]: [string, unknown], [b]: [string, unknown]) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Every Kubernetes payload of a node, in a fixed order (kube, runtime by name, gVisor, Debian,
 * /usr tools, archives). Throws when the runtime lacks a binary of {@link BIN}.
 */
export function payloadPlan(inputs: PayloadInputs): Payload[] {
  const plan: Payload[] = [{ path: BIN.kube, source: "build", from: inputs.kube, mode: 0o755 }];
  const runtime = Object.entries(inputs.runtime).sort(byName);
  for (const [name, from] of runtime) {
    if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new Error(`payloads: bad runtime binary ${name}`);
    plan.push({ path: `${CONTAINERD_PAYLOAD}/bin/${name}`, source: "build", from, mode: 0o755 });
  }
  for (const need of [BIN.containerd, BIN.ctr, BIN.runc]) {
    if (!plan.some((p) => p.path === need)) throw new Error(`payloads: runtime lacks ${need}`);
  }
  if (inputs.gvisor) {
    plan.push(
      { path: BIN.runsc, source: "build", from: inputs.gvisor.runsc, mode: 0o755 },
      { path: BIN.runscShim, source: "build", from: inputs.gvisor.shim, mode: 0o755 },
    );
  }
  for (const [path, debian] of Object.entries(DEBIAN_PAYLOADS)) {
    plan.push({ path, source: "debian", debian, hostUsr: false });
  }
  for (const [path, debian] of Object.entries(USR_PAYLOADS)) {
    plan.push({ path, source: "debian", debian, hostUsr: true });
  }
  for (const [name, from] of Object.entries(inputs.archives).sort(byName)) {
    if (!/^[a-z0-9][a-z0-9._-]*$/.test(name)) throw new Error(`payloads: bad image name ${name}`);
    plan.push({ path: `${PRESEED_DIR}/${name}.tar`, source: "build", from, mode: 0o644 });
  }
  return plan;
}
