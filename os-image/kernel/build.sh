#!/usr/bin/env bash
# Kernel build recipe (image.md §2). Its bytes are part of the kernel cache key, so changing it
# rebuilds. Usage: build.sh <linux-source tarball> <config.fragment> <output dir>
# Writes <out>/bzImage, <out>/vmlinux, <out>/config; the source tree is removed afterwards.
set -euo pipefail
src=$1 frag=$2 out=$3
[ -f "$src" ] || { echo "kernel: source tarball not found: $src" >&2; exit 1; }
[ -f "$frag" ] || { echo "kernel: config fragment not found: $frag" >&2; exit 1; }
mkdir -p "$out"
work="$out/work"
rm -rf "$work"
mkdir -p "$work"
echo "kernel: extracting $src"
tar -C "$work" -xf "$src"
cd "$work"/linux-source-*
# Fixed build identity: the cache key (tarball + fragment + this script) must fully determine
# the output, so no wall-clock time, user or host name may leak into it.
export KBUILD_BUILD_TIMESTAMP=@0 KBUILD_BUILD_USER=metropolis KBUILD_BUILD_HOST=build
export KBUILD_BUILD_VERSION=1 SOURCE_DATE_EPOCH=0
echo "kernel: configuring (x86_64_defconfig + fragment + olddefconfig)"
make -s x86_64_defconfig
scripts/kconfig/merge_config.sh -m .config "$frag" >/dev/null
make -s olddefconfig
echo "kernel: make -j$(nproc) bzImage vmlinux"
make -j"$(nproc)" bzImage vmlinux
cp arch/x86/boot/bzImage "$out/bzImage"
cp vmlinux "$out/vmlinux"
cp .config "$out/config"
cd /
rm -rf "$work"
echo "kernel: done"
