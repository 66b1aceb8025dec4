#!/bin/sh
# Builds Benchmarks/NAME/main.c against the kernels' C sources and runs it with ARGS: what
# gemv-compute.sh, gemv-stream.sh and model-stream.sh do (see each NAME/main.c).
#
#   Benchmarks/c-bench.sh NAME [ARGS…]
set -e
name=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/Sources/CBoraKernels"
bin="${TMPDIR:-/tmp}/bora-$name"
${CC:-clang} -O2 -I"$src/include" -I"$src" -o "$bin" "$root/Benchmarks/$name/main.c" "$src"/*.c -lpthread -lm
exec "$bin" "$@"
