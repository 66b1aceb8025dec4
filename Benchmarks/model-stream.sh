#!/bin/sh
# Builds and runs Benchmarks/model-stream/main.c against the kernels' C sources (see that file).
exec "$(dirname "$0")/c-bench.sh" model-stream "$@"
