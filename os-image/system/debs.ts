/**
 * Debian packages as image sources: the installed version of a package is downloaded with
 * `apt-get download` and unpacked with `dpkg-deb -x`, both cached under
 * `…/metropolis/debs/`. The versions end up in `manifest.json` (image.md §3, §12).
 * @module
 */
import { cacheDir } from "../lib/cache.ts";
import { exists, run } from "../lib/exec.ts";

/** Returns the installed version of `pkg`; throws when it is not installed. */
export async function installedVersion(pkg: string): Promise<string> {
  try {
    return (await run("dpkg-query", ["-W", "-f=${Version}", pkg])).trim();
  } catch {
    throw new Error(`Debian package ${pkg} is not installed (run: deno task setup)`);
  }
}

/** Unpacks `pkg` (its installed version) and returns the extracted tree and the version. */
export async function unpackDeb(pkg: string): Promise<{ root: string; version: string }> {
  const version = await installedVersion(pkg);
  const base = cacheDir("debs");
  const safe = `${pkg}_${version.replaceAll(":", "%3a")}`;
  const root = `${base}/${safe}`;
  if (await exists(`${root}/.done`)) return { root, version };
  const dl = `${base}/download`;
  await Deno.mkdir(dl, { recursive: true });
  // apt drops privileges to _apt for downloads; a world-writable target avoids its warning.
  await Deno.chmod(dl, 0o777);
  let deb = "";
  for (const e of Deno.readDirSync(dl)) {
    if (e.name.startsWith(`${pkg}_`) && e.name.endsWith(".deb")) {
      const v = (await run("dpkg-deb", ["-f", `${dl}/${e.name}`, "Version"])).trim();
      if (v === version) deb = `${dl}/${e.name}`;
    }
  }
  if (!deb) {
    console.log(`debs: apt-get download ${pkg}=${version}`);
    await run("apt-get", ["download", "-q", `${pkg}=${version}`], { cwd: dl });
    for (const e of Deno.readDirSync(dl)) {
      if (e.name.startsWith(`${pkg}_`) && e.name.endsWith(".deb")) {
        const v = (await run("dpkg-deb", ["-f", `${dl}/${e.name}`, "Version"])).trim();
        if (v === version) deb = `${dl}/${e.name}`;
      }
    }
    if (!deb) throw new Error(`apt-get download ${pkg}=${version} produced no .deb in ${dl}`);
  }
  const tmp = `${root}.tmp${Deno.pid}`;
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  await Deno.mkdir(tmp, { recursive: true });
  await run("dpkg-deb", ["-x", deb, tmp]);
  await Deno.writeTextFile(`${tmp}/.done`, `${version}\n`);
  await Deno.remove(root, { recursive: true }).catch(() => {});
  await Deno.rename(tmp, root);
  return { root, version };
}
