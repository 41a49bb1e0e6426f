#!/usr/bin/env bash
# `bazel run //:launch-cluster [-- flags]`: the launcher CLI with VM nodes by default
# (e2e/launch/main_vm.ts), booting the full image Bazel built (//os-image:image_full) unless
# --image or --keep-state is given. Needs root (bridge, TAPs); Ctrl-C tears everything down.
set -euo pipefail
repo=${BUILD_WORKSPACE_DIRECTORY:?run this with bazel run}
. "$repo/bazel/deno.sh" "$repo"
image=(--image="$PWD/os-image/full")
for a in "$@"; do
  case $a in
  --image | --image=* | --keep-state | --keep-state=*) image=() ;;
  esac
done
# Bazel runs this from the runfiles tree; node state goes to the launcher's default directory.
exec "$deno" run -A "$repo/e2e/launch/main_vm.ts" "${image[@]}" "$@"
