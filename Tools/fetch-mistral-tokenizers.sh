#!/usr/bin/env bash
# Fetches Mistral's SentencePiece tokenizers (v1, v2, v3) from the PyPI package that ships them,
# mistral-common 1.13.1, into the cache folder. Prints the folder.
set -euo pipefail
cache="${BORA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bora}"
folder="$cache/tokenizers/mistral-common-1.13.1"
files="tokenizer.model.v1 mistral_instruct_tokenizer_240216.model.v2 mistral_instruct_tokenizer_240323.model.v3"

complete() { for f in $files; do [ -f "$folder/$f" ] || return 1; done; }
if complete; then echo "$folder"; exit 0; fi
mkdir -p "$folder" "$cache/download"
python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$cache/download" "mistral-common==1.13.1" >&2
wheel=$(ls "$cache"/download/mistral_common-1.13.1-*.whl | head -n 1)
python3 - "$wheel" "$folder" $files <<'PY'
import sys, zipfile
wheel, folder, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for name in names:
        with open(f"{folder}/{name}", "wb") as out:
            out.write(z.read(f"mistral_common/data/{name}"))
PY
rm -f "$wheel"
complete
echo "$folder"
