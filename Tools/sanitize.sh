#!/usr/bin/env bash
# The whole test suite under AddressSanitizer, then under ThreadSanitizer (build folders .build-asan
# and .build-tsan; each build takes minutes, and the sanitized runs are several times slower than
# Tools/test.sh). Extra arguments go to `swift test` (e.g. --filter KernelTests).
set -euo pipefail
cd "$(dirname "$0")/.."
Tools/fetch-default-model.sh >/dev/null
Tools/fetch-mistral-tokenizers.sh >/dev/null
export BORA_REQUIRE_MODEL=1
echo "== AddressSanitizer"
LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/Tools/lsan-suppressions.txt}" \
    swift test --sanitize=address --build-path .build-asan "$@"
echo "== ThreadSanitizer"
TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1}" swift test --sanitize=thread --build-path .build-tsan "$@"
