#!/usr/bin/env python3
"""Reference token ids for Bora's tokenizer conformance tests, from the real libraries.

* Mistral's SentencePiece models (v1 32000 pieces, v2/v3 32768 with control tokens) from the
  `mistral-common` package: ids and decodes from the `sentencepiece` library.
* The same v1 vocabulary as GGUF metadata (as llama.cpp's converter writes it), and as a Hugging Face
  tokenizer.json (transformers' legacy LlamaConverter): ids from the `tokenizers` library.
* SmolLM2's byte-level BPE (vocabulary and merges from its GGUF): a tokenizer.json rebuilt with the
  `tokenizers` library exactly as SmolLM2 ships it (Digits(individual) + ByteLevel), and a
  tokenizer-only GGUF copy of its metadata.

    .venv-ref/bin/python Tools/make_tokenizer_references.py "$(Tools/fetch-default-model.sh)"

Writes Tests/BoraTests/Fixtures/tokenizer/.
"""
import json
import os
import sys

import gguf
import numpy as np
import sentencepiece as spm
import sentencepiece.sentencepiece_model_pb2 as sp_pb
import mistral_common
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenizer_corpus import corpus  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "BoraTests", "Fixtures", "tokenizer")
DATA = os.path.join(os.path.dirname(mistral_common.__file__), "data")
MISTRAL = {
    "mistral-v1": "tokenizer.model.v1",
    "mistral-v2": "mistral_instruct_tokenizer_240216.model.v2",
    "mistral-v3": "mistral_instruct_tokenizer_240323.model.v3",
}


def dump(name, record):
    with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
        json.dump(record, f, ensure_ascii=False, separators=(",", ":"))


def sentencepiece_references(texts):
    for name, file in MISTRAL.items():
        sp = spm.SentencePieceProcessor(model_file=os.path.join(DATA, file))
        ids = [sp.encode(t) for t in texts]
        dump(name + ".json", {"model": file, "ids": ids, "decoded": [sp.decode(i) for i in ids]})


def write_spm_gguf(path, model_file):
    """Tokenizer metadata as llama.cpp's convert_hf_to_gguf writes it for a SentencePiece vocabulary."""
    proto = sp_pb.ModelProto()
    proto.ParseFromString(open(model_file, "rb").read())
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_tokenizer_model("llama")
    writer.add_token_list([p.piece.encode("utf-8") for p in proto.pieces])
    writer.add_token_scores([p.score for p in proto.pieces])
    writer.add_token_types([p.type for p in proto.pieces])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def spm_tokenizer_json(model_file, folder):
    """The tokenizer.json that Llama-2 / Mistral-7B repositories ship: BPE with byte fallback, merges of
    normal pieces ranked by the merged piece's score, and a Prepend("▁") + Replace(" ", "▁") normalizer."""
    from tokenizers import normalizers

    proto = sp_pb.ModelProto()
    proto.ParseFromString(open(model_file, "rb").read())
    vocab = {p.piece: i for i, p in enumerate(proto.pieces)}
    normal = {p.piece: (p.score, i) for i, p in enumerate(proto.pieces) if p.type == 1}
    ranked = []
    for piece, (score, i) in normal.items():
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in normal and right in normal:
                ranked.append((-score, i, left, right))
    merges = [(l, r) for _, _, l, r in sorted(ranked)]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ["<unk>", "<s>", "</s>"]])
    os.makedirs(folder, exist_ok=True)
    tok.save(os.path.join(folder, "tokenizer.json"))
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
                   "unk_token": "<unk>"}, f, indent=1)
    return tok


def smollm2_tokenizers(gguf_path):
    reader = gguf.GGUFReader(gguf_path)

    def strings(key):
        field = reader.fields[key]
        return [bytes(field.parts[i]).decode("utf-8") for i in field.data]

    tokens = strings("tokenizer.ggml.tokens")
    merges = strings("tokenizer.ggml.merges")
    types_field = reader.fields["tokenizer.ggml.token_type"]
    types = [int(types_field.parts[i][0]) for i in types_field.data]
    template = bytes(reader.fields["tokenizer.chat_template"].parts[-1]).decode("utf-8")

    # Tokenizer-only GGUF with the model's tokenizer metadata.
    path = os.path.join(OUT, "smollm2-tokenizer.gguf")
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_pad_token_id(2)
    writer.add_add_bos_token(False)
    writer.add_chat_template(template)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    # The Hugging Face tokenizer SmolLM2 ships: BPE + Digits(individual) + ByteLevel, special tokens added.
    pairs = []
    for m in merges:
        cut = m.index(" ", 1)
        pairs.append((m[:cut], m[cut + 1:]))
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=pairs))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, ty in zip(tokens, types) if ty == 3])
    folder = os.path.join(OUT, "smollm2-hf")
    os.makedirs(folder, exist_ok=True)
    tok.save(os.path.join(folder, "tokenizer.json"))
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"add_bos_token": False, "bos_token": "<|im_start|>", "eos_token": "<|im_end|>",
                   "unk_token": "<|endoftext|>", "chat_template": template}, f, indent=1)
    return tok


LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")


def pretokenizer_references(texts):
    """How Hugging Face's pre-tokenizers split each string (as substrings of the original text)."""
    from tokenizers import Regex
    splitters = {
        "gpt2": pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        "llama3": pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated"),
        "smollm": pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                           pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]),
    }
    record = {}
    for name, splitter in splitters.items():
        record[name] = [[t[a:b] for _, (a, b) in splitter.pre_tokenize_str(t)] for t in texts]
    dump("pretokenizers.json", record)


def main(gguf_path):
    os.makedirs(OUT, exist_ok=True)
    texts = corpus()
    dump("corpus.json", texts)
    sentencepiece_references(texts)
    pretokenizer_references(texts)

    write_spm_gguf(os.path.join(OUT, "mistral-v1-tokenizer.gguf"), os.path.join(DATA, MISTRAL["mistral-v1"]))

    hf = spm_tokenizer_json(os.path.join(DATA, MISTRAL["mistral-v1"]), os.path.join(OUT, "mistral-v1-hf"))
    hf.encode_special_tokens = True  # Bora's default: special-token text in user input is plain text
    ids = [hf.encode(t, add_special_tokens=False).ids for t in texts]
    dump("mistral-v1-hf.json", {"ids": ids, "decoded": [hf.decode(i) for i in ids]})
    sp = spm.SentencePieceProcessor(model_file=os.path.join(DATA, MISTRAL["mistral-v1"]))
    differ = sum(a != sp.encode(t) for a, t in zip(ids, texts))
    print(f"HF legacy tokenizer.json differs from sentencepiece on {differ} of {len(texts)} strings", file=sys.stderr)

    tok = smollm2_tokenizers(gguf_path)
    tok.encode_special_tokens = True
    plain = [tok.encode(t, add_special_tokens=False).ids for t in texts]
    tok.encode_special_tokens = False
    special = [tok.encode(t, add_special_tokens=False).ids for t in texts]
    dump("smollm2.json", {
        "ids": plain,
        "ids_parse_special": special,
        "decoded": [tok.decode(i, skip_special_tokens=False) for i in plain],
    })
    print("wrote", OUT, file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
