/**
 * The node image a VM cluster boots (testing.md §2.3): the slot A system image, the signed slot A
 * UKI and the OVMF VARS with the test Secure Boot keys enrolled. From a built image directory
 * (`--image`: `deno task image --out=<dir>` or Bazel's //os-image outputs; loose files, or
 * `bundle.zip` unpacked) or built here into `dist/os-image/<variant>` (`--variant`).
 * @module
 */
import { buildImage } from "../../../os-image/image.ts";
import type { Variant } from "../../../os-image/system/variant.ts";
import { run } from "../exec.ts";
import { REPO_ROOT } from "../node.ts";

/** The files a VM node disk is made from. */
export interface NodeImage {
  /** Slot A system image (erofs + verity). */
  system: string;
  /** Signed UKI of slot A. */
  ukiA: string;
  /** OVMF VARS template with the project's Secure Boot keys enrolled. */
  vars: string;
  /** The image variant (its `manifest.json`); undefined when the directory has no manifest. */
  variant?: Variant;
}

/** Names inside an image directory and `bundle.zip` (os-image/image.ts writes them). */
export const IMAGE_FILES = {
  system: "system.img",
  ukiA: "boot-a.efi",
  vars: "ovmf-vars-test.fd",
  bundle: "bundle.zip",
  manifest: "manifest.json",
} as const;

async function exists(p: string): Promise<boolean> {
  return await Deno.stat(p).then(() => true, () => false);
}

/**
 * The image in directory `dir`: loose `system.img` + `boot-a.efi`, else both unpacked from its
 * `bundle.zip` into `work`. The VARS file must be there in either case.
 */
export async function imageFromDir(dir: string, work: string): Promise<NodeImage> {
  const vars = `${dir}/${IMAGE_FILES.vars}`;
  if (!(await exists(vars))) throw new Error(`--image ${dir}: no ${IMAGE_FILES.vars}`);
  const manifest = await Deno.readTextFile(`${dir}/${IMAGE_FILES.manifest}`).catch(() => "");
  const v = manifest ? (JSON.parse(manifest) as { variant?: unknown }).variant : undefined;
  const variant = v === "core" || v === "full" ? v : undefined;
  const loose = { system: `${dir}/${IMAGE_FILES.system}`, ukiA: `${dir}/${IMAGE_FILES.ukiA}` };
  if ((await exists(loose.system)) && (await exists(loose.ukiA))) {
    return { ...loose, vars, variant };
  }
  const zip = `${dir}/${IMAGE_FILES.bundle}`;
  if (!(await exists(zip))) {
    throw new Error(
      `--image ${dir}: neither ${IMAGE_FILES.system} + ${IMAGE_FILES.ukiA} nor ${IMAGE_FILES.bundle}`,
    );
  }
  await Deno.mkdir(work, { recursive: true });
  await run("unzip", ["-o", "-q", zip, IMAGE_FILES.system, IMAGE_FILES.ukiA, "-d", work]);
  return {
    system: `${work}/${IMAGE_FILES.system}`,
    ukiA: `${work}/${IMAGE_FILES.ukiA}`,
    vars,
    variant,
  };
}

/**
 * The image for a new VM cluster: `--image <dir>` when given, otherwise the `variant` built now
 * (kernel and `kube` from their caches) into `dist/os-image/<variant>`.
 */
export async function nodeImage(
  o: { image?: string; variant: Variant; stateDir: string },
  log: (line: string) => void,
): Promise<NodeImage> {
  if (o.image) {
    const img = await imageFromDir(o.image, `${o.stateDir}/image`);
    log(`image from ${o.image}`);
    return img;
  }
  const outDir = `${REPO_ROOT}/dist/os-image/${o.variant}`;
  log(`building the ${o.variant} image into ${outDir} (kernel cached; --image <dir> skips this)`);
  const started = performance.now();
  const img = await buildImage({ variant: o.variant, outDir, disk: false });
  log(`image built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return { system: img.system.img, ukiA: img.ukis.a, vars: img.ovmfVars!, variant: o.variant };
}
