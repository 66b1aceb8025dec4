#!/usr/bin/env python3
"""Writes a GGUF with Mistral 7B's (or TinyLlama 1.1B's) exact shapes and random weights, for benchmarks.

    python3 Tools/make_synthetic_gguf.py Q4_0 ~/.cache/bora/bench/mistral-7b-shaped-Q4_0.gguf
    python3 Tools/make_synthetic_gguf.py F16 OUT.gguf --shape 1.1b

Shapes: `7b` (default): dim 4096, 32 layers, 32 query / 8 KV heads (head dim 128), FFN 14336,
vocabulary 32000, context 32768, sliding window 4096; `1.1b` (TinyLlama): dim 2048, 22 layers, 32
query / 4 KV heads (head dim 64), FFN 5632, vocabulary 32000, context 2048, no window; `1.1b-swa`: the
same with Mistral's context 32768 and window 4096 (decode at depth without hours of prefill). Types: Q4_0,
Q8_0 or Q4_K for every matrix (the token embedding and LM head too), or F16 (normal weights, σ 0.02)
for llama.cpp's `llama-quantize` to turn into its real type mixes (Tools/make_bench_files.py); F32
norms. Quantized blocks are random bytes with small float16 scales, so every weight is finite. A minimal SentencePiece-style vocabulary (<unk>, <s>, </s>, 256 byte tokens,
filler pieces) lets llama.cpp load the file as well. The files are 4–8 GB: generate them on demand,
never commit them. Needs numpy and gguf (pip).
"""
import argparse
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q

SHAPES = {
    "7b": dict(name="Mistral-7B-shaped", dim=4096, layers=32, heads=32, kv_heads=8, ffn=14336, vocab=32000, context=32768, window=4096),
    "1.1b": dict(name="TinyLlama-1.1B-shaped", dim=2048, layers=22, heads=32, kv_heads=4, ffn=5632, vocab=32000, context=2048, window=None),
    # TinyLlama's matrices with Mistral's window, rolling cache and context: depth tests in minutes.
    "1.1b-swa": dict(name="TinyLlama-1.1B-shaped-SWA", dim=2048, layers=22, heads=32, kv_heads=4, ffn=5632, vocab=32000, context=32768, window=4096),
}
# Byte offsets of the float16 scale fields inside each block.
SCALE_FIELDS = {Q.Q4_0: [0], Q.Q8_0: [0], Q.Q4_K: [0, 2]}


def tensors(c):
    dim, head_dim = c["dim"], c["dim"] // c["heads"]
    yield "token_embd.weight", (c["vocab"], dim), True
    for i in range(c["layers"]):
        p = f"blk.{i}."
        yield p + "attn_norm.weight", (dim,), False
        yield p + "attn_q.weight", (c["heads"] * head_dim, dim), True
        yield p + "attn_k.weight", (c["kv_heads"] * head_dim, dim), True
        yield p + "attn_v.weight", (c["kv_heads"] * head_dim, dim), True
        yield p + "attn_output.weight", (dim, c["heads"] * head_dim), True
        yield p + "ffn_norm.weight", (dim,), False
        yield p + "ffn_gate.weight", (c["ffn"], dim), True
        yield p + "ffn_up.weight", (c["ffn"], dim), True
        yield p + "ffn_down.weight", (dim, c["ffn"]), True
    yield "output_norm.weight", (dim,), False
    yield "output.weight", (c["vocab"], dim), True


def random_blocks(rng, qtype, rows, cols):
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    nblocks = rows * cols // block
    raw = rng.integers(0, 256, size=(nblocks, size), dtype=np.uint8)
    for offset in SCALE_FIELDS[qtype]:
        scales = (np.abs(rng.standard_normal(nblocks)) * 0.002 + 0.0005).astype(np.float16)
        raw[:, offset:offset + 2] = scales.view(np.uint8).reshape(nblocks, 2)
    return raw.reshape(rows, cols // block * size)


def main(type_name, path, shape):
    qtype = Q[type_name]
    assert qtype in SCALE_FIELDS or qtype == Q.F16, "choose Q4_0, Q8_0, Q4_K or F16"
    c = SHAPES[shape]
    vocab, head_dim = c["vocab"], c["dim"] // c["heads"]
    rng = np.random.default_rng(42)
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name(f"{c['name']} synthetic {type_name}")
    writer.add_context_length(c["context"])
    writer.add_embedding_length(c["dim"])
    writer.add_block_count(c["layers"])
    writer.add_feed_forward_length(c["ffn"])
    writer.add_head_count(c["heads"])
    writer.add_head_count_kv(c["kv_heads"])
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    if c["window"]:
        writer.add_uint32("llama.attention.sliding_window", c["window"])
    writer.add_file_type({Q.Q4_0: 2, Q.Q8_0: 7, Q.Q4_K: 15, Q.F16: 1}[qtype])
    tokens = [b"<unk>", b"<s>", b"</s>"] + [f"<0x{i:02X}>".encode() for i in range(256)]
    tokens += [f"\u2581tok{i}".encode() for i in range(vocab - len(tokens))]
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0, 0.0, 0.0] + [0.0] * 256 + [-float(i) for i in range(vocab - 259)])
    writer.add_token_types([2, 3, 3] + [6] * 256 + [1] * (vocab - 259))
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)

    shapes = list(tensors(c))
    for name, shape, quantized in shapes:
        if quantized and qtype == Q.F16:
            writer.add_tensor_info(name, shape, np.dtype(np.float16), 2 * shape[0] * shape[1], raw_dtype=Q.F16)
        elif quantized:
            block, size = gguf.GGML_QUANT_SIZES[qtype]
            byte_shape = (shape[0], shape[1] // block * size)
            writer.add_tensor_info(name, byte_shape, np.dtype(np.uint8), shape[0] * byte_shape[1], raw_dtype=qtype)
        else:
            writer.add_tensor_info(name, shape, np.dtype(np.float32), 4 * shape[0], raw_dtype=Q.F32)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for name, shape, quantized in shapes:
        if quantized and qtype == Q.F16:
            writer.write_tensor_data((0.02 * rng.standard_normal(shape, dtype=np.float32)).astype(np.float16))
        elif quantized:
            writer.write_tensor_data(random_blocks(rng, qtype, *shape))
        else:
            writer.write_tensor_data((1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32))
        print(name, file=sys.stderr, end="\r")
    writer.close()
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("type", choices=["Q4_0", "Q8_0", "Q4_K", "F16"])
    parser.add_argument("path")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="7b")
    args = parser.parse_args()
    main(args.type, args.path, args.shape)
