#!/usr/bin/env bash
# Sourced by the Bazel scripts: sets $deno to the project's pinned Deno (e2e/run.ts DENO_PIN),
# found the way the README installs it, without any step by hand:
#   1. `deno` on PATH or /usr/local/bin/deno, if it is the pinned version;
#   2. the npx cache of `npx --yes deno@<pin>` (~/.npm/_npx/*/node_modules/deno);
#   3. otherwise `npx --yes deno@<pin>` once (npm registry) to fill that cache, then 2 again.
# Usage: . deno.sh <repository root>
find_deno() {
  local repo=$1 pin cand dir
  pin=$(sed -nE 's/^export const DENO_PIN = "([0-9.]+)";$/\1/p' "$repo/e2e/run.ts")
  [ -n "$pin" ] || { echo "bazel: cannot read DENO_PIN from $repo/e2e/run.ts" >&2; return 1; }
  for cand in "$(command -v deno || true)" /usr/local/bin/deno; do
    if [ -n "$cand" ] && [ -x "$cand" ] && [ "$("$cand" --version 2>/dev/null | sed -n '1s/^deno \([0-9.]*\).*/\1/p')" = "$pin" ]; then
      deno=$cand
      return 0
    fi
  done
  npx_deno() {
    for dir in "${HOME:-/root}"/.npm/_npx/*/node_modules/deno; do
      [ -f "$dir/package.json" ] || continue
      grep -q "\"version\": \"$pin\"" "$dir/package.json" || continue
      # The postinstall hard-links the platform binary to deno/deno; without it, use the binary.
      for cand in "$dir/deno" "$dir/../@deno/linux-x64-glibc/deno"; do
        if [ -x "$cand" ] && [ ! -d "$cand" ]; then
          deno=$(readlink -f "$cand")
          return 0
        fi
      done
    done
    return 1
  }
  npx_deno && return 0
  command -v npx >/dev/null || {
    echo "bazel: Deno $pin not found and npx missing (install Node.js/npm, see README)" >&2
    return 1
  }
  echo "bazel: fetching Deno $pin with npx (npm registry)" >&2
  npx --yes "deno@$pin" --version >/dev/null || {
    echo "bazel: npx --yes deno@$pin failed" >&2
    return 1
  }
  npx_deno && return 0
  echo "bazel: npx installed deno@$pin but its binary was not found under ~/.npm/_npx" >&2
  return 1
}
find_deno "$1"
