#!/usr/bin/env bash
# Bazel genrule body: runs the same os-image tools as `deno task image` and copies the outputs
# into the rule's output directory. Usage: image.sh <marker source file> <out dir> [kernel]
# The marker (os-image/image.ts) locates the real source tree behind Bazel's execroot symlinks.
set -euo pipefail
marker=$1 out=$2 what=${3:-image}
repo=$(cd "$(dirname "$(readlink -f "$marker")")/.." && pwd)
deno=$(command -v deno || true)
deno=${deno:-/usr/local/bin/deno}
[ -x "$deno" ] || { echo "bazel: deno not found (PATH or /usr/local/bin/deno)" >&2; exit 1; }
if [ "$what" = kernel ]; then
  "$deno" run -A "$repo/os-image/kernel/build.ts" --copy-to="$out" >/dev/null
  exit 0
fi
tmp=$(mktemp -d /tmp/metropolis-bazel-image.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$deno" run -A "$repo/os-image/image.ts" --out="$tmp"
for f in bundle.zip manifest.json system.img boot-a.efi boot-b.efi installer.efi disk.img \
  ovmf-vars-test.fd ovmf-vars-test-extradb.fd; do
  cp --sparse=always "$tmp/$f" "$out/$f"
done
