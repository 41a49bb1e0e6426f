/**
 * The preseeded images (kubernetes.md §6), built locally as OCI archives into the build cache:
 * - `pause`: the static pause binary, entrypoint `/pause` (the CRI sandbox image);
 * - `busybox`: Debian's busybox-static with one symlink per applet;
 * - `httpserver`: busybox plus a script running `httpd` on :8080 that serves `/index.html`
 *   (the text `metropolis-httpserver <hostname>`);
 * - `connectivity`: busybox plus {@link CONNECTIVITY_SH}, a TCP listener and a prober of TCP and
 *   DNS checks, driven by env (the connectivity matrix of the kubernetes suite).
 * No registry is involved: the runtime imports the tarballs at start (preseed).
 *
 * Usage as a script: `deno run -A e2e/images/images.ts` prints the archive paths.
 */
import { buildImage, type ImageSpec } from "../../node/base/oci/image.ts";
import type { TarEntry } from "../../node/base/oci/tar.ts";
import { buildPause } from "../../node/kubernetes/pause/build.ts";
import { cacheRoot, exists, run } from "../../node/kubernetes/buildcache.ts";

/** Where Debian's busybox-static installs its binary. */
export const BUSYBOX = "/bin/busybox";

/** Registry-less reference prefix of preseeded images. */
export const PRESEED = "preseed.metropolis.internal";

/** Full references of the images built here. */
export const IMAGE_REFS = {
  pause: `${PRESEED}/node/kubernetes/pause:latest`,
  busybox: `${PRESEED}/e2e/busybox:latest`,
  httpserver: `${PRESEED}/e2e/httpserver:latest`,
  connectivity: `${PRESEED}/e2e/connectivity:latest`,
} as const;

/** The name of a built image. */
export type ImageName = keyof typeof IMAGE_REFS;

/** A built image: reference and OCI archive path. */
export interface ImageArchive {
  ref: string;
  path: string;
}

const HTTPSERVER_SH = `#!/bin/sh
# Serves /www on :8080; the page names the pod so tests can tell replies apart.
mkdir -p /www
echo "metropolis-httpserver $(hostname)" > /www/index.html
exec httpd -f -v -p 8080 -h /www
`;

/** Path of the connectivity script inside its image. */
export const CONNECTIVITY = "/connectivity.sh";

/**
 * The connectivity image's script (busybox sh, nc, nslookup, timeout):
 * - `MODE=listen` (default): serves TCP `PORT` (default 8080), every connection gets the line
 *   `connectivity <hostname>`;
 * - `MODE=idle`: sleeps (a pod to `kubectl exec` the prober in);
 * - `MODE=probe`, or the arguments `probe CHECK…`: runs the checks of `CHECKS` (or the
 *   arguments) in parallel, each bounded by `TIMEOUT` seconds (default 3), and prints one line
 *   per check: `<name> ok` or `<name> fail <detail>`. Checks:
 *   - `<name>=tcp:<host>:<port>[:<expect>]`: a TCP connection succeeds (and its reply contains
 *     `<expect>`);
 *   - `<name>=dns:<type>:<query>:<expect>`: `nslookup -type=<type> <query>` through the pod's
 *     resolver prints `<expect>` (`NXDOMAIN` for a name that must not exist).
 * (busybox-static's wget crashes, static glibc NSS; nc is used instead.)
 */
export const CONNECTIVITY_SH = `#!/bin/sh
TIMEOUT=\${TIMEOUT:-3}
check() {
  name=\${1%%=*}
  spec=\${1#*=}
  kind=\${spec%%:*}
  rest=\${spec#*:}
  case "$kind" in
  tcp)
    host=\${rest%%:*}; rest=\${rest#*:}
    port=\${rest%%:*}; expect=
    [ "$port" != "$rest" ] && expect=\${rest#*:}
    out=$(timeout -s KILL "$TIMEOUT" nc -w "$TIMEOUT" "$host" "$port" </dev/null 2>&1)
    rc=$?
    ;;
  dns)
    type=\${rest%%:*}; rest=\${rest#*:}
    query=\${rest%%:*}; expect=\${rest#*:}
    out=$(timeout -s KILL "$TIMEOUT" nslookup -type="$type" "$query" 2>&1)
    rc=$?
    ;;
  *)
    echo "$name fail unknown check kind $kind"; return
    ;;
  esac
  # nslookup exits 1 on NXDOMAIN: then the output decides.
  if { [ "$rc" = 0 ] || [ "$expect" = NXDOMAIN ]; } &&
    { [ -z "$expect" ] || echo "$out" | grep -qF -- "$expect"; }; then
    echo "$name ok"
  else
    echo "$name fail rc=$rc $(echo "$out" | tr '\\n' ' ' | cut -c1-120)"
  fi
}
case "\${1:-$MODE}" in
probe)
  [ "$1" = probe ] && shift && CHECKS="$*"
  dir=$(mktemp -d)
  i=0
  for c in $CHECKS; do
    i=$((i + 1))
    check "$c" >"$dir/$i" &
  done
  wait
  cat "$dir"/* 2>/dev/null
  rm -rf "$dir"
  ;;
idle)
  exec sleep 2147483647
  ;;
*)
  exec nc -ll -p "\${PORT:-8080}" -e echo "connectivity $(hostname)"
  ;;
esac
`;

async function busyboxLayer(): Promise<TarEntry[]> {
  const bin = await Deno.readFile(BUSYBOX).catch(() => {
    throw new Error(`images: ${BUSYBOX} missing (install busybox-static via .ci/setup)`);
  });
  const applets = (await run(BUSYBOX, ["--list"])).split("\n").filter((a) => /^[\w.-]+$/.test(a));
  const entries: TarEntry[] = [
    { path: "bin/busybox", type: "file", mode: 0o755, data: bin },
    { path: "etc", type: "dir" },
    { path: "tmp", type: "dir", mode: 0o1777 },
    { path: "proc", type: "dir" },
    { path: "sys", type: "dir" },
    { path: "dev", type: "dir" },
  ];
  for (const a of applets) {
    if (a !== "busybox") entries.push({ path: `bin/${a}`, type: "symlink", linkTarget: "busybox" });
  }
  return entries;
}

/** Returns the specs of all images (reads the pause and busybox binaries). */
export async function imageSpecs(): Promise<Record<ImageName, ImageSpec>> {
  const pause = await Deno.readFile(await buildPause());
  const bb = await busyboxLayer();
  return {
    pause: {
      ref: IMAGE_REFS.pause,
      layers: [[{ path: "pause", type: "file", mode: 0o755, data: pause }]],
      config: { entrypoint: ["/pause"] },
    },
    busybox: { ref: IMAGE_REFS.busybox, layers: [bb], config: { cmd: ["/bin/sh"] } },
    httpserver: {
      ref: IMAGE_REFS.httpserver,
      layers: [bb, [{
        path: "httpserver.sh",
        type: "file",
        mode: 0o755,
        data: new TextEncoder().encode(HTTPSERVER_SH),
      }]],
      config: { entrypoint: ["/bin/sh", "/httpserver.sh"], exposedPorts: ["8080/tcp"] },
    },
    connectivity: {
      ref: IMAGE_REFS.connectivity,
      layers: [bb, [{
        path: CONNECTIVITY.slice(1),
        type: "file",
        mode: 0o755,
        data: new TextEncoder().encode(CONNECTIVITY_SH),
      }]],
      config: { entrypoint: ["/bin/sh", CONNECTIVITY], exposedPorts: ["8080/tcp"] },
    },
  };
}

/**
 * Builds every image into `${cache}/metropolis/images/<manifest digest>/<name>.tar` (written
 * only when missing) and returns them by name.
 */
export async function buildImages(): Promise<Record<ImageName, ImageArchive>> {
  const specs = await imageSpecs();
  const out = {} as Record<ImageName, ImageArchive>;
  for (const [name, spec] of Object.entries(specs) as [ImageName, ImageSpec][]) {
    const img = await buildImage(spec);
    const dir = `${cacheRoot()}/images/${img.manifestDigest.slice(7, 31)}`;
    const path = `${dir}/${name}.tar`;
    if (!(await exists(path))) {
      await Deno.mkdir(dir, { recursive: true });
      await Deno.writeFile(`${path}.tmp`, img.archive);
      await Deno.rename(`${path}.tmp`, path);
      console.log(`images: built ${spec.ref} -> ${path}`);
    }
    out[name] = { ref: spec.ref, path };
  }
  return out;
}

if (import.meta.main) {
  for (const [name, a] of Object.entries(await buildImages())) {
    console.log(`${name}\t${a.ref}\t${a.path}`);
  }
}
