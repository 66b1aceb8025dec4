#!/bin/sh
# Builds and runs Benchmarks/gemv-compute/main.c against the kernels' C sources (see that file).
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/Sources/CBoraKernels"
bin="${TMPDIR:-/tmp}/bora-gemv-compute"
${CC:-clang} -O2 -I"$src/include" -I"$src" -o "$bin" "$root/Benchmarks/gemv-compute/main.c" "$src"/*.c -lm
exec "$bin" "$@"
