#!/bin/sh
# Builds Benchmarks/prompt-tile/main.c against the kernels' C sources and runs it; given a git
# revision, also against that revision's kernels, alternating the two builds N times (default 1):
#
#   Benchmarks/prompt-tile.sh [REVISION [N]] [-- ROWS BATCH ROUNDS [FORMAT]]
#   Benchmarks/prompt-tile.sh                      # this tree: 512 rows, batch 128, 7 rounds
#   Benchmarks/prompt-tile.sh HEAD~1 4 -- 512 128 7 Q6_K
#                                                  # HEAD~1 against this tree, 4 alternations, Q6_K only
exec "$(dirname "$0")/c-bench-ab.sh" prompt-tile "$@"
