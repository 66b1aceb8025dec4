#!/bin/sh
# Builds and runs Benchmarks/gemv-stream/main.c against the kernels' C sources (see that file).
exec "$(dirname "$0")/c-bench.sh" gemv-stream "$@"
