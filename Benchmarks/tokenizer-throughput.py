#!/usr/bin/env python3
"""Encoding throughput on a 1 MB text: Bora against the `sentencepiece` library, same model, same text.

    python3 Benchmarks/tokenizer-throughput.py [TOKENIZER_MODEL]

Needs `sentencepiece` (pip) and a release build of bora (swift build -c release). The default model is
Mistral's tokenizer.model.v1 fetched by Tools/fetch-mistral-tokenizers.sh. Both encoders must produce
the same ids; the script checks that before printing the ratio.
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

import sentencepiece as spm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Tools"))
from tokenizer_corpus import corpus  # noqa: E402


def make_text(size=1_000_000):
    parts = corpus()
    text, i = [], 0
    while sum(map(len, text)) < size:
        text.append(parts[i % len(parts)])
        text.append("\n" if i % 7 == 0 else " ")
        i += 1
    return "".join(text).encode("utf-8")[:size].decode("utf-8", "ignore")


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else subprocess.check_output(
        [os.path.join(ROOT, "Tools", "fetch-mistral-tokenizers.sh")], text=True).strip() + "/tokenizer.model.v1"
    text = make_text()
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write(text)
    mb = len(text.encode("utf-8")) / 1e6

    sp = spm.SentencePieceProcessor(model_file=model)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        ids = sp.encode(text)
        best = min(best, time.perf_counter() - start)
    sp_rate = mb / best

    bora = os.path.join(ROOT, ".build", "release", "bora")
    out = subprocess.run([bora, "tokenize", model, "--file", f.name, "--no-special-tokens", "--json", "--repeat-count", "5"],
                         capture_output=True, text=True, check=True)
    bora_ids = json.loads(out.stdout)["ids"]
    line = out.stderr.strip().splitlines()[-1]
    bora_rate = float(line.split(",")[-1].split()[0])
    os.unlink(f.name)
    same = bora_ids == ids
    print(f"text: {mb:.2f} MB, {len(ids)} tokens; ids identical: {same}")
    print(f"sentencepiece {spm.__version__}: {sp_rate:.2f} MB/s")
    print(f"bora:                {bora_rate:.2f} MB/s")
    print(f"ratio bora / sentencepiece: {bora_rate / sp_rate:.2f}x")
    if not same:
        sys.exit("token ids differ")


if __name__ == "__main__":
    main()
