#!/bin/sh
# Builds and runs Benchmarks/gemv-stream/main.c against the kernels' C sources (see that file).
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/Sources/CBoraKernels"
bin="${TMPDIR:-/tmp}/bora-gemv-stream"
${CC:-clang} -O2 -I"$src/include" -I"$src" -o "$bin" "$root/Benchmarks/gemv-stream/main.c" "$src"/*.c -lpthread -lm
exec "$bin" "$@"
