/**
 * Fixtures of the install/update suite: OS images of a given version built into a test directory,
 * images that cannot boot, installer media, and a node's release as GetNodes reports it.
 * @module
 */
import { buildImage, type Image } from "../../../os-image/image.ts";
import type { Node } from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import { formatVersion } from "../../../metroctl/core/nodes.ts";
import { mkuki } from "../../../os-image/uki/mkuki.ts";
import { sign } from "../../../os-image/keys/sign.ts";
import { nodeCmdline, osRelease } from "../../../node/base/osimage/cmdline.ts";
import { writeOsImageLayout } from "../../../node/base/osimage/oci_layout.ts";

/**
 * The image of `version` in `<dir>/<version>` (no launcher disk; OVMF VARS only with `ovmf`:
 * one set per suite suffices), its build time printed with `prefix`.
 */
export async function buildVersion(
  dir: string,
  version: string,
  o: { ovmf: boolean; prefix: string },
): Promise<Image> {
  const t0 = performance.now();
  const img = await buildImage({ outDir: `${dir}/${version}`, version, disk: false, ovmf: o.ovmf });
  console.log(
    `${o.prefix}: image ${version} built in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return img;
}

/**
 * `metroctl install genusb` arguments writing a medium with the OS image layout `image` to `out`:
 * with `bootstrap` (a cluster domain) one that bootstraps a cluster without TPM and with
 * insecure storage (the suites' VMs run without swtpm), otherwise one that registers with the
 * cluster metroctl reaches. `nodeParams`: a base NodeParameters file (text format).
 */
export function genusbArgs(
  o: { image: string; out: string; bootstrap?: string; nodeParams?: string },
): string[] {
  const bootstrap = o.bootstrap
    ? [
      "--bootstrap",
      "--bootstrap-tpm-mode",
      "disabled",
      "--bootstrap-storage-security",
      "needs-insecure",
    ]
    : [];
  return [
    ...(o.bootstrap ? ["--cluster", o.bootstrap] : []),
    "install",
    "genusb",
    ...bootstrap,
    ...(o.nodeParams ? ["--node-params", o.nodeParams] : []),
    "--image",
    o.image,
    o.out,
  ];
}

/** `MAJOR.MINOR.PATCH` the node runs, or `unknown` when it reports no version. */
export function nodeRelease(n: Node | undefined): string {
  return n?.status?.version ? formatVersion(n.status.version).split("-")[0] : "unknown";
}

/** What a slot that cannot boot shows on the console before the kernel resets the machine. */
export const BROKEN_BOOT = /device-mapper: verity|Kernel panic|VFS: Unable to mount root/;

/** product_info of an image built from `base`, stamped `version`. */
function product(version: string, base: Image) {
  return {
    id: "metropolis-node",
    name: "Metropolis Node",
    version,
    variant: String(base.manifest.variant ?? "core"),
    commit_hash: String(base.manifest.commit),
  };
}

/**
 * `base`'s payloads with `system` corrupted in its erofs superblock, consistently with the chunk
 * hashes (so the node accepts the download), stamped `version`, as an OCI layout in
 * `<dir>/broken-system`: dm-verity refuses the root and the kernel panics.
 */
export async function brokenSystem(base: Image, dir: string, version: string): Promise<string> {
  const sys = `${dir}/broken-system.img`;
  await Deno.copyFile(base.system.img, sys);
  {
    using f = await Deno.open(sys, { write: true });
    await f.seek(1024, Deno.SeekMode.Start); // the erofs superblock
    await f.write(new Uint8Array(64).fill(0x5a));
  }
  await writeOsImageLayout(`${dir}/broken-system`, [
    { name: "system", path: sys },
    { name: "boot-a.efi", path: base.ukis.a },
    { name: "boot-b.efi", path: base.ukis.b },
    { name: "installer.efi", path: base.installerUki },
  ], product(version, base));
  return `${dir}/broken-system`;
}

/**
 * `base` with signed UKIs whose command lines carry a wrong verity root hash, stamped `version`,
 * as an OCI layout in `<dir>/panic`: the kernel cannot mount its root and panics.
 */
export async function panickingUkis(base: Image, dir: string, version: string): Promise<string> {
  const ukis: Record<string, string> = {};
  for (const slot of ["a", "b"] as const) {
    const out = `${dir}/panic-${slot}`;
    await mkuki(
      {
        osrel: osRelease(version, String(base.manifest.commit)),
        cmdline: nodeCmdline(slot, { ...base.system, rootHash: "00".repeat(32) }),
        linux: `${base.outDir}/work/bzImage.signed`,
        epoch: Number(base.manifest.sourceDateEpoch),
      },
      `${out}.unsigned.efi`,
      `${out}.work`,
    );
    await sign(`${out}.unsigned.efi`, `${out}.efi`);
    ukis[slot] = `${out}.efi`;
  }
  await writeOsImageLayout(`${dir}/panic`, [
    { name: "system", path: base.system.img },
    { name: "boot-a.efi", path: ukis.a },
    { name: "boot-b.efi", path: ukis.b },
    { name: "installer.efi", path: base.installerUki },
  ], product(version, base));
  return `${dir}/panic`;
}
