#!/usr/bin/env python3
"""Reference outputs for the real default model, SmolLM2-135M-Instruct Q4_1 (GGUF).

transformers loads the very same GGUF file (it dequantizes every tensor with the `gguf` package and
undoes llama.cpp's Q/K row permutation), tokenizes the prompt with the GGUF's own tokenizer and
computes float32 logits. Writes Tests/BoraTests/Fixtures/smollm2.reference.json.

    .venv-ref/bin/python Tools/make_smollm2_reference.py "$(Tools/fetch-default-model.sh)"
"""
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

PROMPT = "The capital of France is"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "BoraTests", "Fixtures", "smollm2.reference.json")


def main(path):
    folder, name = os.path.split(os.path.abspath(path))
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32, attn_implementation="eager").eval()
    ids = tokenizer(PROMPT, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
        generated = model.generate(torch.tensor([ids]), max_new_tokens=12, do_sample=False)[0][len(ids):].tolist()
        # Top-2 margin at each greedy step, to know where greedy text is a fair comparison.
        seq = list(ids)
        margins = []
        for token in generated:
            last = model(torch.tensor([seq])).logits[0, -1]
            top = torch.topk(last, 2).values
            margins.append(round(float(top[0] - top[1]), 4))
            seq.append(token)
    record = {
        "prompt": PROMPT,
        "ids": ids,
        "logits": [[round(float(v), 5) for v in row] for row in logits],
        "greedy_ids": generated,
        "greedy_text": tokenizer.decode(generated),
        "greedy_margins": margins,
    }
    with open(OUT, "w") as f:
        json.dump(record, f, separators=(",", ":"))
    print("ids", ids, "greedy", repr(record["greedy_text"]), "margins", margins)


if __name__ == "__main__":
    main(sys.argv[1])
