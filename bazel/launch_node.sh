#!/usr/bin/env bash
# `bazel run //:launch-node`: boots one node VM from the built launcher disk (os-image:disk)
# with the test OVMF VARS, console on stdout. Extra arguments go to launch_node.ts.
set -euo pipefail
repo=${BUILD_WORKSPACE_DIRECTORY:?run this with bazel run}
. "$repo/bazel/deno.sh" "$repo"
exec "$deno" run -A "$repo/e2e/launch/vm/launch_node.ts" \
  --disk="$PWD/os-image/disk.img" --vars="$PWD/os-image/ovmf-vars-test.fd" "$@"
