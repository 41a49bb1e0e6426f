/**
 * Generated `/etc` files of the system image (image.md §3): os-release, product-info.json and
 * the CA bundle.
 * @module
 */
import { unpackDeb } from "./debs.ts";

/** Build identity written into the image. */
export interface ProductInfo {
  /** OS version (semver). */
  version: string;
  /** Git commit of the build. */
  commit: string;
  /** Build time, seconds since the epoch (SOURCE_DATE_EPOCH). */
  sourceDateEpoch: number;
  /** Image variant. */
  variant: string;
  /** Component versions (kernel, deno, Debian packages). */
  components: Record<string, string>;
}

/** `/etc/os-release` text. */
export function etcOsRelease(p: ProductInfo): string {
  return [
    'NAME="Metropolis"',
    "ID=metropolis-node",
    `VERSION_ID=${p.version}`,
    `PRETTY_NAME="Metropolis Node ${p.version}"`,
    `BUILD_ID=${p.commit}`,
    "",
  ].join("\n");
}

/** `/etc/product-info.json` text (stable key order). */
export function productInfoJson(p: ProductInfo): string {
  const components = Object.fromEntries(Object.entries(p.components).sort());
  return JSON.stringify({ name: "Metropolis", ...p, components }, null, 2) + "\n";
}

/**
 * The CA bundle as update-ca-certificates would write it from Debian's ca-certificates
 * (all Mozilla certificates, sorted by file name); returns the bytes and the package version.
 */
export async function caBundle(): Promise<{ data: Uint8Array; version: string }> {
  const { root, version } = await unpackDeb("ca-certificates");
  const dir = `${root}/usr/share/ca-certificates/mozilla`;
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".crt"))
    .sort();
  if (!names.length) throw new Error(`ca-certificates: no certificates in ${dir}`);
  let text = "";
  for (const n of names) {
    const c = await Deno.readTextFile(`${dir}/${n}`);
    text += c.endsWith("\n") ? c : c + "\n";
  }
  return { data: new TextEncoder().encode(text), version };
}
