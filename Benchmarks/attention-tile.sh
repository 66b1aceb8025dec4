#!/bin/sh
# Builds Benchmarks/attention-tile/main.c against the kernels' C sources and runs it; given a git
# revision, also against that revision's kernels, alternating the two builds N times (default 1):
#
#   Benchmarks/attention-tile.sh [REVISION [N]] [-- HEAD_DIM KEYS ROUNDS ROWS…]
#   Benchmarks/attention-tile.sh                   # this tree: head dim 64, 1,400 keys, 3 9 15 27 rows
#   Benchmarks/attention-tile.sh HEAD 4 -- 128 4096 15 4 16 36
#                                                  # HEAD against this tree, 4 alternations
exec "$(dirname "$0")/c-bench-ab.sh" attention-tile "$@"
