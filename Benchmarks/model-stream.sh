#!/bin/sh
# Builds and runs Benchmarks/model-stream/main.c against the kernels' C sources (see that file).
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/Sources/CBoraKernels"
bin="${TMPDIR:-/tmp}/bora-model-stream"
${CC:-clang} -O2 -I"$src/include" -I"$src" -o "$bin" "$root/Benchmarks/model-stream/main.c" "$src"/*.c -lpthread -lm
exec "$bin" "$@"
