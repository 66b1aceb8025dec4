#!/usr/bin/env bash
# The arm64 NEON kernels, verified without an arm64 machine: cross-compiles the C kernels
# (Sources/CBoraKernels) with clang for aarch64-linux-gnu, together with the test driver
# Tools/NeonCheck/neon_check.c, and runs it under qemu-aarch64 at each CPU feature level:
#   cortex-a53          Armv8.0: NEON only
#   cortex-a76          Armv8.2: NEON + dotprod
#   max                 every feature qemu has: NEON + dotprod + i8mm
#   max, BORA_ISA=...   the same CPU capped at neon and at dotprod (the run-time cap)
# Each run checks that the detected level is the expected one, then every kernel of each level up
# to it against the portable C and exact references (see neon_check.c). Speed is not measured:
# qemu emulates, so timings here say nothing about arm64 hardware.
#
# Needs clang (the Swift toolchain's), Debian's gcc-aarch64-linux-gnu (the arm64 C library and
# linker) and qemu-user; installs the last two with apt-get when run as root without them. Exits 2
# when they are missing and cannot be installed, 1 when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v qemu-aarch64 >/dev/null || ! command -v aarch64-linux-gnu-gcc >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "neon-check: installing gcc-aarch64-linux-gnu and qemu-user" >&2
        apt-get install -y -qq gcc-aarch64-linux-gnu qemu-user >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq gcc-aarch64-linux-gnu qemu-user >/dev/null 2>&1; } ||
            { echo "neon-check: apt-get could not install gcc-aarch64-linux-gnu and qemu-user" >&2; exit 2; }
    else
        echo "neon-check: needs qemu-aarch64 and aarch64-linux-gnu-gcc (apt-get install gcc-aarch64-linux-gnu qemu-user)" >&2
        exit 2
    fi
fi
CC=${CC:-clang}
OUT=.build/neon-check
mkdir -p "$OUT"
# -Werror: the arm64 code paths are compiled nowhere else on an x86 machine.
"$CC" --target=aarch64-linux-gnu -O2 -std=gnu11 -Wall -Wextra -Werror -ISources/CBoraKernels/include \
    Sources/CBoraKernels/*.c Tools/NeonCheck/neon_check.c -fuse-ld=bfd -static -lm -o "$OUT/neon_check"

run() {
    local cpu=$1 cap=$2 expected=$3 output
    echo "== qemu-aarch64 -cpu $cpu${cap:+, BORA_ISA=$cap}"
    if ! output=$(env ${cap:+BORA_ISA=$cap} qemu-aarch64 -cpu "$cpu" "$OUT/neon_check"); then
        echo "$output"
        echo "neon-check: FAILED on $cpu${cap:+ (BORA_ISA=$cap)}" >&2
        exit 1
    fi
    echo "$output"
    if ! grep -q "^level: $expected " <<<"$output"; then
        echo "neon-check: $cpu${cap:+ (BORA_ISA=$cap)} ran at the wrong level (expected $expected)" >&2
        exit 1
    fi
}
run cortex-a53 "" neon
run cortex-a76 "" dotprod
run max "" i8mm
run max dotprod dotprod
run max neon neon
echo "neon-check: all levels passed"
