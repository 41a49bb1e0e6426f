/**
 * `deno task image:repro`: builds the image twice in separate directories and compares the
 * artifacts that must be byte-identical (image.md §12): `system.erofs`, `system.img` (hence the
 * root hash), the unsigned UKIs, the test OVMF VARS and the agent bundle. Signed UKIs differ only
 * in their signature timestamps and are compared by `unsignedSha256`.
 * @module
 */
import { buildImage, type Image } from "./image.ts";
import { sha256File } from "./lib/hash.ts";

/** One compared artifact. */
export interface ReproItem {
  /** Artifact name. */
  name: string;
  /** Hash (or value) in the first build. */
  first: string;
  /** Hash (or value) in the second build. */
  second: string;
}

async function digest(img: Image): Promise<Record<string, string>> {
  return {
    "rootHash": img.system.rootHash,
    "system.erofs": await sha256File(img.system.erofs),
    "system.img": await sha256File(img.system.img),
    "boot-a.efi (unsigned)": await sha256File(img.unsignedUkis.a),
    "boot-b.efi (unsigned)": await sha256File(img.unsignedUkis.b),
    "installer.efi (unsigned)": await sha256File(`${img.outDir}/work/installer.unsigned.efi`),
    "ovmf-vars-test.fd": img.ovmfVars ? await sha256File(img.ovmfVars) : "",
    "agent.js": await sha256File(`${img.outDir}/work/agent/agent.js`),
  };
}

/** Builds twice under `base` (default a temp dir) and returns the compared items. */
export async function repro(base?: string): Promise<ReproItem[]> {
  const dir = base ?? await Deno.makeTempDir({ prefix: "mkimg-repro-" });
  const a = await digest(await buildImage({ outDir: `${dir}/one`, disk: false }));
  const b = await digest(await buildImage({ outDir: `${dir}/two`, disk: false }));
  return Object.keys(a).map((name) => ({ name, first: a[name], second: b[name] }));
}

if (import.meta.main) {
  const items = await repro(Deno.args[0]);
  let bad = 0;
  for (const i of items) {
    const ok = i.first === i.second;
    if (!ok) bad++;
    console.log(
      `repro: ${ok ? "same" : "DIFFERENT"} ${i.name} ${i.first}${ok ? "" : ` ≠ ${i.second}`}`,
    );
  }
  console.log(bad ? `repro: ${bad} artifacts differ` : "repro: all artifacts identical");
  Deno.exit(bad ? 1 : 0);
}
