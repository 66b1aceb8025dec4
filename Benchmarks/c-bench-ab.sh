#!/bin/sh
# Builds Benchmarks/NAME/main.c against the kernels' C sources and runs it with ARGS; given a git
# revision, also against that revision's kernels, alternating the two builds N times (default 1):
# what prompt-tile.sh and attention-tile.sh do (see each NAME/main.c).
#
#   Benchmarks/c-bench-ab.sh NAME [REVISION [N]] [-- ARGS…]
set -e
name=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
build() {  # build SOURCE_DIR BINARY
    ${CC:-clang} -O2 -I"$1/include" -I"$1" -o "$2" "$root/Benchmarks/$name/main.c" "$1"/*.c -lpthread -lm
}
base="" alternations=1
if [ $# -gt 0 ] && [ "$1" != "--" ]; then base=$1; shift; fi
if [ $# -gt 0 ] && [ "$1" != "--" ]; then alternations=$1; shift; fi
[ "${1:-}" = "--" ] && shift
build "$root/Sources/CBoraKernels" "$tmp/tree"
if [ -n "$base" ]; then
    mkdir -p "$tmp/base/include"
    git -C "$root" archive "$base" Sources/CBoraKernels | tar -x -C "$tmp/base" --strip-components=2
    build "$tmp/base" "$tmp/base-bin"
fi
i=0
while [ $i -lt "$alternations" ]; do
    if [ -n "$base" ]; then echo "== $base"; "$tmp/base-bin" "$@"; fi
    [ -n "$base" ] && echo "== this tree"
    "$tmp/tree" "$@"
    i=$((i + 1))
done
