/**
 * Image variants (image.md): `core` is `rootfs/layout.json` alone (agent, etcd, node exporter —
 * what the VM boot tests need); `full` adds the Kubernetes payloads of node/kubernetes/payloads.ts
 * (the `kube` binary, containerd 2 and runc built from Go modules, gVisor's runsc and shim, the
 * CNI plugins in use, preseeded OCI archives, nft) and the root symlink `/var` → `/ephemeral/var`
 * (the kubelet and CNI write below hard-coded `/var` paths; namespace nodes get the same link from
 * root_plan.ts). Shared libraries of the added ELF files (libnftables & co. for nft; the built
 * runc is static) come from the ldd closure like every other library of the image.
 * @module
 */
import { type PayloadInputs, payloadPlan } from "../../node/kubernetes/payloads.ts";
import { buildImages } from "../../e2e/images/images.ts";
import { buildContainerd } from "../../node/kubernetes/containerd/build.ts";
import { buildGvisor } from "../../node/kubernetes/gvisor/build.ts";
import { buildKube } from "../../node/kubernetes/hyperkube/build.ts";
import type { LayoutEntry } from "./stage.ts";

/** The image variants. */
export const VARIANTS = ["core", "full"] as const;
/** One image variant. */
export type Variant = typeof VARIANTS[number];

/** Root entries of the full variant that are not payloads. */
export const FULL_ROOT_LINKS: readonly LayoutEntry[] = [
  { path: "/var", source: "symlink:/ephemeral/var", mode: "0777" },
];

/** What a variant adds to `rootfs/layout.json`. */
export interface VariantLayout {
  /** Layout entries appended to `rootfs/layout.json`. */
  entries: LayoutEntry[];
  /** `build:<name>` artifacts the entries refer to (host paths). */
  artifacts: Record<string, string>;
}

/** The layout the full variant adds, from the payload plan's inputs. Pure: no file is read. */
export function fullLayout(inputs: PayloadInputs): VariantLayout {
  const entries: LayoutEntry[] = [];
  const artifacts: Record<string, string> = {};
  for (const p of payloadPlan(inputs)) {
    if (p.source === "build") {
      const name = `payload${p.path}`;
      artifacts[name] = p.from;
      entries.push({ path: p.path, source: `build:${name}`, mode: `0${p.mode.toString(8)}` });
    } else {
      entries.push({ path: p.path, source: `deb:${p.debian.pkg}:${p.debian.host}`, mode: "0755" });
    }
  }
  entries.push(...FULL_ROOT_LINKS);
  return { entries, artifacts };
}

/**
 * Builds (or finds cached) what `variant` adds: for `full`, the `kube` binary, containerd and
 * runc, gVisor and the
 * preseeded images (Debian payloads are unpacked while staging); for `core`, nothing.
 */
export async function variantLayout(variant: Variant): Promise<VariantLayout> {
  if (variant === "core") return { entries: [], artifacts: {} };
  const [kube, runtime, gvisor, images] = await Promise.all([
    buildKube(),
    buildContainerd(),
    buildGvisor(),
    buildImages(),
  ]);
  const archives = Object.fromEntries(Object.entries(images).map(([n, i]) => [n, i.path]));
  const shim = gvisor["containerd-shim-runsc-v1"];
  return fullLayout({ kube, runtime, archives, gvisor: { runsc: gvisor.runsc, shim } });
}
