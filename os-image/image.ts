/**
 * `deno task image`: builds the whole node image chain (image.md): kernel (cached), `/init`,
 * agent bundle, system image (erofs + dm-verity), signed UKIs for slots A and B, PCR 11
 * predictions, the installer UKI (lz4 initramfs), `manifest.json`, `bundle.zip`, test OVMF VARS
 * and a launcher disk image.
 *
 * CLI: `deno run -A os-image/image.ts [--variant=core|full] [--out=<dir>] [--no-disk] [--version=<v>]`
 * (default variant `core`; default out: `dist/os-image/<variant>/`). `full` adds the Kubernetes
 * payloads (system/variant.ts).
 * @module
 */
import { buildInit } from "./init/build.ts";
import { buildKernel } from "./kernel/build.ts";
import { testKeys } from "./keys/keys.ts";
import { ovmfVars } from "./keys/ovmf.ts";
import { sign, signatureCount, signCached, signingKey } from "./keys/sign.ts";
import { sha256File } from "./lib/hash.ts";
import { writeZip } from "./lib/zip.ts";
import { caBundle, etcOsRelease, type ProductInfo, productInfoJson } from "./system/etc.ts";
import { buildSystem, type SystemImage } from "./system/build.ts";
import { type Variant, variantLayout, VARIANTS } from "./system/variant.ts";
import { installedVersion } from "./system/debs.ts";
import { bundle } from "./tools/bundle.ts";
import { installerCmdline, nodeCmdline, osRelease, type Slot } from "./uki/cmdline.ts";
import { installerEntries, mkinitramfs } from "./uki/initramfs.ts";
import { predictPcr11 } from "./uki/measure.ts";
import { mkuki } from "./uki/mkuki.ts";
import { mkdisk } from "./disk/mkdisk.ts";
import { buildCommit, OS_VERSION, sourceDateEpoch } from "./version.ts";
import { parseVersion } from "../node/base/osimage/version.ts";
import { writeOsImageLayout } from "../node/base/osimage/oci_layout.ts";

/** Options of {@link buildImage}. */
export interface ImageOptions {
  /** Image variant (default `core`, what the VM boot tests use). */
  variant?: Variant;
  /** Output directory (default `<repo>/dist/os-image/<variant>`). */
  outDir?: string;
  /** Also write the launcher disk image `disk.img` (default true). */
  disk?: boolean;
  /** Also write the OVMF VARS with the test keys (default true). */
  ovmf?: boolean;
  /** A prebuilt `/init` instead of building `os-image/init/init.c` (experiments). */
  init?: string;
  /** OS version stamped into the image (default: the tree's `OS_VERSION`; update tests). */
  version?: string;
}

/** One UKI of the manifest. */
export interface UkiInfo {
  /** File name in the bundle. */
  file: string;
  /** Slot, or `installer`. */
  slot: Slot | "installer";
  /** SHA-256 of the signed UKI. */
  sha256: string;
  /** SHA-256 of the UKI before signing (reproducible). */
  unsignedSha256: string;
  /** Predicted PCR 11 (SHA-256 bank). */
  pcr11Sha256: string;
}

/** Everything {@link buildImage} produced (paths are absolute). */
export interface Image {
  /** Output directory. */
  outDir: string;
  /** `manifest.json` content. */
  manifest: Record<string, unknown>;
  /** The system image. */
  system: SystemImage;
  /** Signed UKIs by slot. */
  ukis: Record<Slot, string>;
  /** Unsigned UKIs by slot (for tests: firmware must refuse them). */
  unsignedUkis: Record<Slot, string>;
  /** Signed installer UKI (kernel + lz4 initramfs). */
  installerUki: string;
  /** `bundle.zip`. */
  bundleZip: string;
  /** The OCI OS image layout directory and its manifest digest. */
  oci: { dir: string; manifestDigest: string };
  /** Kernel images. */
  kernel: { bzImage: string; vmlinux: string; release: string };
  /** Test OVMF VARS (PK/KEK/db enrolled), when built. */
  ovmfVars?: string;
  /** Same with one extra db certificate. */
  ovmfVarsExtraDb?: string;
  /** Launcher disk image, when built. */
  disk?: string;
}

const repo = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

/** Builds the image into `opts.outDir`. */
export async function buildImage(opts: ImageOptions = {}): Promise<Image> {
  const t0 = performance.now();
  const variant = opts.variant ?? "core";
  const outDir = opts.outDir ?? `${repo}/dist/os-image/${variant}`;
  const work = `${outDir}/work`;
  await Deno.remove(work, { recursive: true }).catch(() => {});
  await Deno.mkdir(work, { recursive: true });
  const commit = await buildCommit();
  const epoch = await sourceDateEpoch();
  const version = opts.version ?? OS_VERSION;
  parseVersion(version);

  const kernel = await buildKernel();
  console.log(`image: kernel ${kernel.release} (${kernel.key.slice(0, 12)})`);
  const init = opts.init ?? await buildInit({ version });
  const agent = await bundle(`${work}/agent`);
  const deno = await Deno.realPath(Deno.execPath());
  const ca = await caBundle();
  const extra = await variantLayout(variant);
  // The agent bundle's chunks (names hashed per build) sit next to /agent/agent.js.
  const chunks = agent.agentChunks.map((c) => ({
    entry: { path: `/agent/${c}`, source: `build:agent/${c}`, mode: "0644" },
    artifact: [`agent/${c}`, `${work}/agent/${c}`] as const,
  }));

  const info: ProductInfo = {
    version,
    commit,
    sourceDateEpoch: epoch,
    variant,
    components: {
      kernel: kernel.release,
      deno: Deno.version.deno,
      etcd: await installedVersion("etcd-server"),
    },
  };
  const system = await buildSystem({
    artifacts: {
      init,
      deno,
      "agent.js": agent.agentJs,
      ...Object.fromEntries(chunks.map((c) => c.artifact)),
      "proto/rpc.proto": `${agent.protoDir}/rpc.proto`,
      "proto/kv.proto": `${agent.protoDir}/kv.proto`,
      "proto/auth.proto": `${agent.protoDir}/auth.proto`,
      "os-release": new TextEncoder().encode(etcOsRelease(info)),
      "product-info.json": new TextEncoder().encode(productInfoJson(info)),
      "ca-certificates.crt": ca.data,
      ...extra.artifacts,
    },
    extraLayout: [...chunks.map((c) => c.entry), ...extra.entries],
    epoch,
    outDir,
    work,
  });
  system.debianPackages["ca-certificates"] = ca.version;
  console.log(`image: system.img root hash ${system.rootHash}`);

  // The inner kernel is signed too: kexec_file_load verifies it (KEXEC_BZIMAGE_VERIFY_SIG).
  const key = await signingKey();
  const linux = `${work}/bzImage.signed`;
  // Cached, so the UKIs embedding it stay reproducible (sbsign stamps the signing time).
  await signCached(kernel.bzImage, linux);

  const osrel = osRelease(version, commit);
  const ukis = {} as Record<Slot, string>;
  const unsignedUkis = {} as Record<Slot, string>;
  const ukiInfos: UkiInfo[] = [];
  for (const slot of ["a", "b"] as Slot[]) {
    const unsigned = `${work}/boot-${slot}.unsigned.efi`;
    const signed = `${outDir}/boot-${slot}.efi`;
    const ukiWork = `${work}/uki-${slot}`;
    await mkuki(
      { osrel, cmdline: nodeCmdline(slot, system), linux, epoch },
      unsigned,
      ukiWork,
    );
    await sign(unsigned, signed);
    if ((await signatureCount(signed)) !== 1) {
      throw new Error(`image: ${signed} does not carry exactly one signature`);
    }
    ukis[slot] = signed;
    unsignedUkis[slot] = unsigned;
    ukiInfos.push({
      file: `boot-${slot}.efi`,
      slot,
      sha256: await sha256File(signed),
      unsignedSha256: await sha256File(unsigned),
      pcr11Sha256: await predictPcr11({
        linux,
        osrel: `${ukiWork}/osrel`,
        cmdline: `${ukiWork}/cmdline`,
      }),
    });
  }
  // Installer: same kernel, installer command line, initramfs from the staged tree.
  const initrd = `${work}/installer.cpio.lz4`;
  await mkinitramfs(`${work}/staging`, installerEntries(system.entries), initrd, epoch);
  const installerUnsigned = `${work}/installer.unsigned.efi`;
  const installerUki = `${outDir}/installer.efi`;
  const instWork = `${work}/uki-installer`;
  await mkuki(
    { osrel, cmdline: installerCmdline(), linux, initrd, epoch },
    installerUnsigned,
    instWork,
  );
  await sign(installerUnsigned, installerUki);
  ukiInfos.push({
    file: "installer.efi",
    slot: "installer",
    sha256: await sha256File(installerUki),
    unsignedSha256: await sha256File(installerUnsigned),
    pcr11Sha256: await predictPcr11({
      linux,
      osrel: `${instWork}/osrel`,
      cmdline: `${instWork}/cmdline`,
      initrd,
    }),
  });
  console.log(`image: UKIs signed (${key.test ? "test" : "production"} db key)`);

  const debianPackages: Record<string, string> = { ...system.debianPackages };
  for (const p of ["linux-source-6.1", "systemd-boot-efi", "erofs-utils", "cryptsetup-bin"]) {
    debianPackages[p] = await installedVersion(p);
  }
  const manifest = {
    formatVersion: 1,
    version,
    commit,
    sourceDateEpoch: epoch,
    variant,
    debianPackages: Object.fromEntries(Object.entries(debianPackages).sort()),
    kernel: { version: kernel.release, sha256: await sha256File(kernel.bzImage) },
    system: {
      file: "system.img",
      size: system.size,
      sha256: system.sha256,
      dataBlocks: system.dataBlocks,
      rootHash: system.rootHash,
      salt: system.salt,
      erofsUuid: system.erofsUuid,
    },
    ukis: ukiInfos,
  };
  await Deno.writeTextFile(`${outDir}/manifest.json`, JSON.stringify(manifest, null, 2) + "\n");
  const bundleZip = `${outDir}/bundle.zip`;
  await writeZip(bundleZip, {
    "manifest.json": `${outDir}/manifest.json`,
    "system.img": system.img,
    "boot-a.efi": ukis.a,
    "boot-b.efi": ukis.b,
    "installer.efi": installerUki,
  });
  console.log(`image: ${bundleZip}`);
  // The same payloads as an OCI OS image (UpdateNode, metroctl genusb, the test registry).
  const ociDir = `${outDir}/oci`;
  await Deno.remove(ociDir, { recursive: true }).catch(() => {});
  const oci = await writeOsImageLayout(ociDir, [
    { name: "system", path: system.img },
    { name: "boot-a.efi", path: ukis.a },
    { name: "boot-b.efi", path: ukis.b },
    { name: "installer.efi", path: installerUki },
  ], {
    id: "metropolis-node",
    name: "Metropolis Node",
    version,
    variant,
    commit_hash: commit,
    components: Object.entries(info.components).map(([id, v]) => ({ id, version: v })),
  });
  console.log(`image: ${ociDir} (${oci.manifestDigest})`);

  const result: Image = {
    outDir,
    manifest,
    system,
    ukis,
    unsignedUkis,
    installerUki,
    bundleZip,
    oci: { dir: ociDir, manifestDigest: oci.manifestDigest },
    kernel: { bzImage: kernel.bzImage, vmlinux: kernel.vmlinux, release: kernel.release },
  };
  if (opts.ovmf !== false) {
    const keys = await testKeys();
    result.ovmfVars = `${outDir}/ovmf-vars-test.fd`;
    result.ovmfVarsExtraDb = `${outDir}/ovmf-vars-test-extradb.fd`;
    await ovmfVars(keys, result.ovmfVars);
    await ovmfVars(keys, result.ovmfVarsExtraDb, true);
  }
  if (opts.disk !== false) {
    result.disk = `${outDir}/disk.img`;
    await mkdisk({ ukiA: ukis.a, system: system.img, seed: system.rootHash }, result.disk, work);
    console.log(`image: launcher disk ${result.disk}`);
  }
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(
    `image: done in ${secs} s: erofs ${system.erofsSize} bytes (content ${system.contentSize}), ` +
      `system.img ${system.size}, UKI ${(await Deno.stat(ukis.a)).size}, ` +
      `bzImage ${(await Deno.stat(kernel.bzImage)).size}`,
  );
  return result;
}

if (import.meta.main) {
  const opts: ImageOptions = {};
  const args = [...Deno.args];
  const usage = "use --variant=core|full, --out=<dir>, --no-disk, --version=<semver>";
  while (args.length) {
    const a = args.shift()!;
    if (a.startsWith("--out=")) opts.outDir = a.slice(6);
    else if (a === "--variant" || a.startsWith("--variant=")) {
      const v = a === "--variant" ? args.shift() ?? "" : a.slice("--variant=".length);
      if (!(VARIANTS as readonly string[]).includes(v)) {
        console.error(`image: unknown variant ${JSON.stringify(v)} (${usage})`);
        Deno.exit(2);
      }
      opts.variant = v as Variant;
    } else if (a === "--no-disk") opts.disk = false;
    else {
      console.error(`image: unknown argument ${JSON.stringify(a)} (${usage})`);
      Deno.exit(2);
    }
  }
  await buildImage(opts);
}
