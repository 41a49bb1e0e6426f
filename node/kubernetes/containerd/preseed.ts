/**
 * Preseed (kubernetes.md §6): imports locally built OCI image archives into containerd's
 * `k8s.io` namespace, unpacked for the overlayfs snapshotter, since no registry is reachable.
 */

/** Options of {@link importPreseed}. */
export interface PreseedOptions {
  /** containerd gRPC socket. */
  address: string;
  /** OCI archive paths (tar). */
  archives: string[];
  /** `ctr` binary; default `ctr` on PATH. */
  ctr?: string;
  /** Wrapper prefix (e.g. `nsenter …`) to run ctr inside a namespace node. */
  prefix?: string[];
}

/** Returns the ctr argument list importing one archive. */
export function importArgs(address: string, archive: string): string[] {
  return [
    "--address",
    address,
    "--namespace",
    "k8s.io",
    "images",
    "import",
    // In ctr itself, not through containerd 2's transfer service: the same unpack into the given
    // snapshotter, and the "unpacking <ref> (sha256:…)...done" lines importPreseed reads (the
    // transfer service prints only "<name>: saved" progress).
    "--local",
    "--snapshotter",
    "overlayfs",
    archive,
  ];
}

/** Imports every archive; returns the image references ctr reported. Throws on the first failure. */
export async function importPreseed(o: PreseedOptions): Promise<string[]> {
  const refs: string[] = [];
  const dec = new TextDecoder();
  for (const archive of o.archives) {
    const argv = [...(o.prefix ?? []), o.ctr ?? "ctr", ...importArgs(o.address, archive)];
    const out = await new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`preseed: importing ${archive} failed: ${dec.decode(out.stderr).trim()}`);
    }
    // ctr prints "unpacking <ref> (sha256:…)...done".
    for (const m of dec.decode(out.stdout).matchAll(/unpacking (\S+) \(sha256:/g)) refs.push(m[1]);
  }
  return refs;
}

/** Lists `*.tar` files in a preseed directory (e.g. `/containerd/preseed/k8s.io`), sorted. */
export async function preseedArchives(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.endsWith(".tar")) out.push(`${dir}/${e.name}`);
  }
  return out.sort();
}
