/**
 * Builds the node kernel (image.md §2) from Debian's linux-source-6.1 and `config.fragment`,
 * cached under `…/metropolis/kernel/<sha256 of tarball + fragment + build.sh>/` so an unchanged
 * kernel is never rebuilt (a cold build takes ≈ 18 min on 2 cores).
 *
 * CLI: `deno run -A os-image/kernel/build.ts [--copy-to=<dir>]` builds (or finds) the kernel,
 * prints its paths and optionally copies `bzImage` and `vmlinux` to a directory.
 * @module
 */
import { cacheDir } from "../lib/cache.ts";
import { exists } from "../lib/exec.ts";
import { sha256File, sha256Parts } from "../lib/hash.ts";
import { checkConfig } from "./required.ts";
import { withCacheLock } from "../../node/kubernetes/buildcache.ts";

/** Where the Debian package puts the kernel source; `KERNEL_SOURCE` overrides it. */
export const DEFAULT_SOURCE = "/usr/src/linux-source-6.1.tar.xz";

/** A built kernel in the cache. */
export interface Kernel {
  /** EFI-stub bzImage (LZ4-compressed), for UKIs. */
  bzImage: string;
  /** Uncompressed ELF kernel, for PVH direct boot. */
  vmlinux: string;
  /** The final `.config`. */
  config: string;
  /** Cache key (hex SHA-256 of the inputs). */
  key: string;
  /** Kernel release, e.g. `6.1.192-metropolis`. */
  release: string;
  /** Seconds spent building, or 0 when the cache was hit. */
  buildSeconds: number;
}

const here = new URL(".", import.meta.url).pathname;

/** Computes the cache key of the kernel inputs. */
export async function kernelKey(source = kernelSource()): Promise<string> {
  if (!(await exists(source))) {
    throw new Error(
      `kernel source ${source} not found (install linux-source-6.1: deno task setup)`,
    );
  }
  return sha256Parts([
    await sha256File(source),
    await Deno.readFile(`${here}config.fragment`),
    await Deno.readFile(`${here}build.sh`),
  ]);
}

function kernelSource(): string {
  return Deno.env.get("KERNEL_SOURCE") || DEFAULT_SOURCE;
}

async function result(dir: string, key: string, buildSeconds: number): Promise<Kernel> {
  const config = await Deno.readTextFile(`${dir}/config`);
  const problems = checkConfig(config);
  if (problems.length) {
    throw new Error(`kernel config check failed: ${problems.join("; ")}`);
  }
  const ver = await Deno.readTextFile(`${dir}/release`).catch(() => "unknown");
  return {
    bzImage: `${dir}/bzImage`,
    vmlinux: `${dir}/vmlinux`,
    config: `${dir}/config`,
    key,
    release: ver.trim(),
    buildSeconds,
  };
}

/**
 * Returns the cached kernel for the current inputs, building it first (under `nice -n 10`,
 * log in `<cache>/<key>.log`, a progress line every 30 s) when absent.
 */
export async function buildKernel(): Promise<Kernel> {
  const source = kernelSource();
  const key = await kernelKey(source);
  const root = cacheDir("kernel");
  const dir = `${root}/${key}`;
  if (await exists(`${dir}/bzImage`)) return await result(dir, key, 0);
  return await withCacheLock(dir, "kernel", async () => {
    if (await exists(`${dir}/bzImage`)) return await result(dir, key, 0);
    const tmp = `${dir}.tmp`;
    const log = `${dir}.log`;
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    console.log(`kernel: cold build ${key.slice(0, 12)} (log ${log})`);
    const start = performance.now();
    // The shell redirects into the log itself: no pipes to drain, and the log survives us.
    const child = new Deno.Command("nice", {
      args: [
        "-n",
        "10",
        "bash",
        "-c",
        'exec bash "$0" "$1" "$2" "$3" >"$4" 2>&1',
        `${here}build.sh`,
        source,
        `${here}config.fragment`,
        tmp,
        log,
      ],
      stdin: "null",
    }).spawn();
    const timer = setInterval(async () => {
      const text = await Deno.readTextFile(log).catch(() => "");
      const objs = text.split("\n").filter((l) => /^\s+(CC|AS|LD|AR)\s/.test(l)).length;
      const secs = Math.round((performance.now() - start) / 1000);
      console.log(`kernel: ${secs} s, ${objs} objects built`);
    }, 30_000);
    const status = await child.status;
    clearInterval(timer);
    if (!status.success) {
      const tail = (await Deno.readTextFile(log)).trim().split("\n").slice(-5).join(" | ");
      throw new Error(`kernel build failed (exit ${status.code}, log ${log}): ${tail}`);
    }
    const seconds = Math.round((performance.now() - start) / 1000);
    // The release string is recorded for manifests: version from the config header + LOCALVERSION.
    const cfg = await Deno.readTextFile(`${tmp}/config`);
    const local = /^CONFIG_LOCALVERSION="(.*)"$/m.exec(cfg)?.[1] ?? "";
    const head = /^# Linux\/x86 (\S+) Kernel Configuration$/m.exec(cfg)?.[1] ?? "unknown";
    await Deno.writeTextFile(`${tmp}/release`, `${head}${local}\n`);
    await Deno.writeTextFile(`${tmp}/build-seconds`, `${seconds}\n`);
    const problems = checkConfig(cfg);
    if (problems.length) throw new Error(`kernel config check failed: ${problems.join("; ")}`);
    await Deno.rename(tmp, dir);
    console.log(`kernel: built in ${seconds} s`);
    return await result(dir, key, seconds);
  });
}

if (import.meta.main) {
  const k = await buildKernel();
  const copy = Deno.args.find((a) => a.startsWith("--copy-to="))?.slice("--copy-to=".length);
  if (copy) {
    await Deno.copyFile(k.bzImage, `${copy}/bzImage`);
    await Deno.copyFile(k.vmlinux, `${copy}/vmlinux`);
  }
  console.log(JSON.stringify(k, null, 2));
}
