#!/usr/bin/env bash
# Bazel genrule body: runs the same os-image tools as `deno task image` and copies the outputs
# into the rule's output directory.
# Usage: image.sh <marker source file> <out dir> [image|image-full|kernel]
# The marker (a file of the repository) locates the real source tree behind Bazel's execroot
# symlinks: the nearest directory above it holding deno.json. Deno comes from deno.sh.
set -euo pipefail
marker=$1 out=$2 what=${3:-image}
repo=$(dirname "$(readlink -f "$marker")")
while [ ! -f "$repo/deno.json" ]; do
  [ "$repo" != / ] || { echo "bazel: no deno.json above $marker" >&2; exit 1; }
  repo=$(dirname "$repo")
done
. "$repo/bazel/deno.sh" "$repo"
if [ "$what" = kernel ]; then
  "$deno" run -A "$repo/os-image/kernel/build.ts" --copy-to="$out" >/dev/null
  exit 0
fi
variant=core
[ "$what" = image-full ] && variant=full
tmp=$(mktemp -d /tmp/metropolis-bazel-image.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$deno" run -A "$repo/os-image/image.ts" --variant="$variant" --out="$tmp"
for f in bundle.zip manifest.json system.img boot-a.efi boot-b.efi installer.efi disk.img \
  ovmf-vars-test.fd ovmf-vars-test-extradb.fd; do
  cp --sparse=always "$tmp/$f" "$out/$f"
done
