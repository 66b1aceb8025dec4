#!/bin/sh
# Builds and runs Benchmarks/gemv-compute/main.c against the kernels' C sources (see that file).
exec "$(dirname "$0")/c-bench.sh" gemv-compute "$@"
